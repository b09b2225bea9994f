from . import cls, det, seg  # noqa: F401  (registers the task modules in each library's scope)
from .backbones import MobileViTv3
from .exported_model import ExportedModel

__all__ = ['ExportedModel', 'MobileViTv3']
