"""Input transforms of the authors' cls evaluation path."""
