"""Input transforms of the authors' det evaluation path."""
