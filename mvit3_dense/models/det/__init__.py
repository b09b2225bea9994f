from .anchor_generator import MobileViTv3SSDAnchorGenerator
from .box_coder import SSDBoxCoder
from .ssdlite_head import MobileViTv3SSDHead
from .ssdlite_neck import MobileViTv3SSDNeck

__all__ = ['MobileViTv3SSDAnchorGenerator', 'MobileViTv3SSDHead', 'MobileViTv3SSDNeck',
           'SSDBoxCoder']
