"""Metrics computed as the authors compute them; importing this package registers them."""
from .det_metric import MobileViTv3CocoMetric  # noqa: F401
from .seg_metric import ConfusionMatrixIoUMetric  # noqa: F401
