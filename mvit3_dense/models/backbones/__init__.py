from .mobilevitv3 import MobileViTv3

__all__ = ['MobileViTv3']
