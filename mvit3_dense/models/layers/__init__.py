from .attention import MultiheadSelfAttention, SeparableSelfAttention
from .inverted_residual import InvertedResidual
from .mobilevitv3_block import MobileViTv3BlockV1, MobileViTv3BlockV2
from .transformer import LinearTransformerLayer, TransformerLayer
from .utils import make_divisible

__all__ = [
    'InvertedResidual', 'LinearTransformerLayer', 'MobileViTv3BlockV1', 'MobileViTv3BlockV2',
    'MultiheadSelfAttention', 'SeparableSelfAttention', 'TransformerLayer', 'make_divisible'
]
