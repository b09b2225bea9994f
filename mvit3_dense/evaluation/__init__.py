"""Metrics computed as the authors compute them; importing this package registers them."""
from .seg_metric import ConfusionMatrixIoUMetric  # noqa: F401
