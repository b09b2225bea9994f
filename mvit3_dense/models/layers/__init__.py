from .attention import MultiheadSelfAttention, SeparableSelfAttention
from .inverted_residual import InvertedResidual
from .mobilevitv3_block import BLOCK_OPTIONS, BLOCK_PRESETS, MobileViTBlock
from .sync_batchnorm import CPUSyncBatchNorm
from .transformer import LinearTransformerLayer, TransformerLayer
from .utils import make_divisible

__all__ = [
    'BLOCK_OPTIONS', 'BLOCK_PRESETS', 'CPUSyncBatchNorm', 'InvertedResidual',
    'LinearTransformerLayer', 'MobileViTBlock', 'MultiheadSelfAttention',
    'SeparableSelfAttention', 'TransformerLayer', 'make_divisible'
]
