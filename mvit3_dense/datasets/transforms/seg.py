"""Input transforms of the authors' seg evaluation path."""
