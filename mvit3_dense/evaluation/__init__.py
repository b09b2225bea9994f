"""Metrics computed as the authors compute them; importing this package registers them."""
