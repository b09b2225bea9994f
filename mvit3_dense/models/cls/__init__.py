from .linear_head import MobileViTv3ClsHead

__all__ = ['MobileViTv3ClsHead']
