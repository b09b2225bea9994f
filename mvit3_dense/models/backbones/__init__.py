from .mobilevitv3 import MobileViTv3, Stage

__all__ = ['MobileViTv3', 'Stage']
