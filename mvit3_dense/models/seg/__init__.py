from .aspp_head import MobileViTv3ASPPHead
from .encoder_decoder import MobileViTv3EncoderDecoder

__all__ = ['MobileViTv3ASPPHead', 'MobileViTv3EncoderDecoder']
