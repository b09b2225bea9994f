from .attention import MultiheadSelfAttention, SeparableSelfAttention
from .inverted_residual import InvertedResidual
from .mobilevitv3_block import MobileViTv3BlockV1, MobileViTv3BlockV2
from .sync_batchnorm import CPUSyncBatchNorm
from .transformer import LinearTransformerLayer, TransformerLayer
from .utils import make_divisible

__all__ = [
    'CPUSyncBatchNorm', 'InvertedResidual', 'LinearTransformerLayer', 'MobileViTv3BlockV1',
    'MobileViTv3BlockV2', 'MultiheadSelfAttention', 'SeparableSelfAttention', 'TransformerLayer',
    'make_divisible'
]
