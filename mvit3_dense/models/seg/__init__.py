from .aspp_head import MobileViTv3ASPPHead

__all__ = ['MobileViTv3ASPPHead']
