from . import det, seg  # noqa: F401  (registers the task modules in mmdet's and mmseg's scopes)
from .backbones import MobileViTv3

__all__ = ['MobileViTv3']
