"""One MobileViT block for the whole family: MobileViTv1, MobileViTv2 and both MobileViTv3 forms.

MobileViTv3 (paper section 3.1) is the MobileViT block with four changes, each a switch here:

* ``depthwise_local``: (1) the local 3x3 conv is depthwise (MobileViTv1: a full 3x3 conv);
* ``fusion_kernel``: (2) the fusion conv is 1x1 (MobileViTv1: 3x3);
* ``fuse_local``: (3) fusion takes the local-representation output (MobileViTv1: the block
  input) with the global features;
* ``input_residual``: (4) the block input is added to the fusion output (MobileViTv1: not).

The attention kind selects the code lineage the block follows in everything else:

* ``'multihead'`` (MobileViTv1 code): tokens ``[B * P, N, d]``, multi-head attention, LayerNorm;
  the folded global features are projected d -> C by ``conv_proj`` (+norm+act) and fused, after
  it, with the other input by ``fusion`` (+norm+act): ``cat[other, projected global]``. A map
  whose size is not a multiple of the patch is resized (bilinear, ``align_corners=False``) after
  the local representation and resized back after folding.
* ``'separable'`` (MobileViTv2 code): ``[B, d, P, N]``, separable linear attention,
  GroupNorm(1). Without fusion (MobileViTv2), ``conv_proj`` d -> C (+norm, no activation) gives
  the output. With fusion (MobileViTv3), one conv over ``cat[global, other]`` (+norm, no
  activation) takes the place of that projection. A block input whose size is not a multiple of
  the patch is resized (bilinear, ``align_corners=True``) and keeps that size.

:data:`BLOCK_PRESETS` holds the four published blocks.
"""
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from .transformer import LinearTransformerLayer, TransformerLayer
from .utils import patch_aligned_size, resize

# The published blocks as settings of MobileViTBlock.
BLOCK_PRESETS = {
    # Apple ml-cvnets d38a116 cvnets/modules/mobilevit_block.py:32-50,180-200.
    'mobilevitv1': dict(attention='multihead', depthwise_local=False, fusion_kernel=3,
                        fuse_local=False, input_residual=False),
    'mobilevitv3-v1': dict(attention='multihead', depthwise_local=True, fusion_kernel=1,
                           fuse_local=True, input_residual=True),
    # Apple ml-cvnets 84d992f cvnets/modules/mobilevit_block.py:403-446,639-660.
    'mobilevitv2': dict(attention='separable', depthwise_local=True, fusion_kernel=None,
                        fuse_local=False, input_residual=False),
    'mobilevitv3-v2': dict(attention='separable', depthwise_local=True, fusion_kernel=1,
                           fuse_local=True, input_residual=True),
}
BLOCK_OPTIONS = ('attention', 'depthwise_local', 'fusion_kernel', 'fuse_local', 'input_residual')


def unfold_patches(x, patch_size):
    """``[B, C, H, W]`` -> ``[B, C, P, N]`` (P pixels per patch, N patches), contiguous.

    Contiguous whatever the input's memory format: the separable attention (GroupNorm, 1x1
    convolutions, softmax over N) ran faster on CPU on contiguous maps than on channels-last ones.
    """
    batch, channels, height, width = x.shape
    nh, nw = height // patch_size, width // patch_size
    x = x.reshape(batch, channels, nh, patch_size, nw, patch_size)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(batch, channels, patch_size * patch_size, nh * nw)


def fold_patches(x, patch_size, height, width):
    """Inverse of :func:`unfold_patches`."""
    batch, channels = x.shape[:2]
    nh, nw = height // patch_size, width // patch_size
    x = x.reshape(batch, channels, patch_size, patch_size, nh, nw)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(batch, channels, height, width)


def tokens_of(x, patch_size):
    """``[B, C, H, W]`` -> tokens ``[B * P, N, C]`` in one copy (multi-head attention input:
    attention runs across the patches of each pixel position)."""
    batch, channels, height, width = x.shape
    nh, nw = height // patch_size, width // patch_size
    x = x.reshape(batch, channels, nh, patch_size, nw, patch_size)
    return x.permute(0, 3, 5, 2, 4, 1).reshape(batch * patch_size * patch_size, nh * nw, channels)


def map_of(tokens, patch_size, height, width, channels_last):
    """Inverse of :func:`tokens_of`, in one copy; channels-last or contiguous as asked."""
    channels = tokens.shape[-1]
    nh, nw = height // patch_size, width // patch_size
    x = tokens.reshape(-1, patch_size, patch_size, nh, nw, channels)
    batch = x.shape[0]
    if channels_last:
        x = x.permute(0, 3, 1, 4, 2, 5).reshape(batch, height, width, channels)
        return x.permute(0, 3, 1, 2)
    return x.permute(0, 5, 3, 1, 4, 2).reshape(batch, channels, height, width)


def _channels_last(x):
    """Whether a 4-D map is stored channels-last (and not also plainly contiguous)."""
    return (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
            and not x.is_contiguous())


class MobileViTBlock(nn.Module):
    """MobileViT block with the MobileViTv3 changes as switches (see the module docstring).

    Submodules: ``local_rep`` (``conv_dw`` depthwise or ``conv_3x3`` full 3x3 conv +norm+act,
    then ``conv_pw`` 1x1 C -> d, no norm, no bias), ``global_rep`` (``num_layers`` attention
    layers and a final norm), ``conv_proj`` where the lineage has one, ``fusion`` where
    ``fusion_kernel`` is set.

    Args:
        channels (int): Input and output channels C.
        embed_dims (int): Attention width d.
        ffn_dims (int): FFN hidden width.
        num_layers (int): Number of attention layers L.
        attention (str): ``'multihead'`` (MobileViTv1 lineage) or ``'separable'`` (MobileViTv2
            lineage).
        depthwise_local (bool): Change (1): depthwise local 3x3 conv.
        fusion_kernel (int | None): Change (2): kernel of the fusion conv, 1 or 3; None for no
            fusion conv (MobileViTv2).
        fuse_local (bool): Change (3): fuse the local-representation output (d channels)
            instead of the block input (C channels).
        input_residual (bool): Change (4): add the block input to the output.
        num_heads (int): Heads of multi-head attention. Defaults to 4.
        patch_size (int): Side of the square patch. Defaults to 2.
        dilation (int): Dilation of the local 3x3 conv.
        drop_rate, attn_drop_rate, ffn_drop_rate (float): Dropout after attention and FFN, on
            the attention weights, inside the FFN.
        norm_cfg (dict): Norm of the convolutions. Defaults to BN.
        act_cfg (dict): Activation. Defaults to SiLU.
    """

    def __init__(self,
                 channels: int,
                 embed_dims: int,
                 ffn_dims: int,
                 num_layers: int,
                 *,
                 attention: str = 'multihead',
                 depthwise_local: bool = True,
                 fusion_kernel: Optional[int] = 1,
                 fuse_local: bool = True,
                 input_residual: bool = True,
                 num_heads: int = 4,
                 patch_size: int = 2,
                 dilation: int = 1,
                 drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0,
                 ffn_drop_rate: float = 0.0,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='SiLU')):
        super().__init__()
        if attention not in ('multihead', 'separable'):
            raise ValueError(f"attention must be 'multihead' or 'separable', got {attention!r}")
        if fusion_kernel not in (None, 1, 3):
            raise ValueError(f'fusion_kernel must be 1, 3 or None (no fusion conv), '
                             f'got {fusion_kernel!r}')
        if fusion_kernel is None and fuse_local:
            raise ValueError('fuse_local=True needs a fusion conv: set fusion_kernel to 1 or 3, '
                             'or fuse_local=False')
        self.attention = attention
        self.depthwise_local = depthwise_local
        self.fusion_kernel = fusion_kernel
        self.fuse_local = fuse_local
        self.input_residual = input_residual
        self.patch_size = patch_size

        conv_3x3 = ConvModule(channels, channels, 3, padding=dilation, dilation=dilation,
                              groups=channels if depthwise_local else 1, norm_cfg=norm_cfg,
                              act_cfg=act_cfg)
        self.local_rep = nn.Sequential(OrderedDict([
            ('conv_dw' if depthwise_local else 'conv_3x3', conv_3x3),
            ('conv_pw', nn.Conv2d(channels, embed_dims, 1, bias=False))]))

        other_channels = embed_dims if fuse_local else channels
        if attention == 'multihead':
            self.global_rep = nn.Sequential(
                *[TransformerLayer(embed_dims, ffn_dims, num_heads, drop_rate, attn_drop_rate,
                                   ffn_drop_rate, act_cfg) for _ in range(num_layers)],
                nn.LayerNorm(embed_dims))
            self.conv_proj = ConvModule(embed_dims, channels, 1, norm_cfg=norm_cfg,
                                        act_cfg=act_cfg)
            fusion_in, fusion_act = other_channels + channels, act_cfg
        else:
            self.global_rep = nn.Sequential(
                *[LinearTransformerLayer(embed_dims, ffn_dims, drop_rate, attn_drop_rate,
                                         ffn_drop_rate, act_cfg) for _ in range(num_layers)],
                nn.GroupNorm(1, embed_dims))
            self.conv_proj = None
            if fusion_kernel is None:
                self.conv_proj = ConvModule(embed_dims, channels, 1, norm_cfg=norm_cfg,
                                            act_cfg=None)
            fusion_in, fusion_act = embed_dims + other_channels, None
        self.fusion = None
        if fusion_kernel is not None:
            self.fusion = ConvModule(fusion_in, channels, fusion_kernel,
                                     padding=fusion_kernel // 2, norm_cfg=norm_cfg,
                                     act_cfg=fusion_act)

    def _global_multihead(self, local):
        height, width = local.shape[-2:]
        aligned = patch_aligned_size(height, width, self.patch_size)
        tokens = local if aligned == (height, width) else resize(local, aligned, False)
        patches = self.global_rep(tokens_of(tokens, self.patch_size))
        global_ = map_of(patches, self.patch_size, *aligned, _channels_last(tokens))
        if aligned != (height, width):
            global_ = resize(global_, (height, width), False)
        return global_

    def _global_separable(self, local):
        patches = self.global_rep(unfold_patches(local, self.patch_size))
        return fold_patches(patches, self.patch_size, *local.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.attention == 'separable':
            aligned = patch_aligned_size(*x.shape[-2:], self.patch_size)
            if aligned != tuple(x.shape[-2:]):
                x = resize(x, aligned, True)
            local = self.local_rep(x)
            global_ = self._global_separable(local)
        else:
            local = self.local_rep(x)
            global_ = self._global_multihead(local)
        if self.conv_proj is not None:
            global_ = self.conv_proj(global_)
        out = global_
        if self.fusion is not None:
            other = local if self.fuse_local else x
            pair = [other, global_] if self.attention == 'multihead' else [global_, other]
            out = self.fusion(torch.cat(pair, dim=1))
        return x + out if self.input_residual else out
