from . import cls, det, seg  # noqa: F401  (registers the task modules in each library's scope)
from .backbones import MobileViTv3

__all__ = ['MobileViTv3']
