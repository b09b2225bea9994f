"""The MobileViTv3 block in its two published forms (paper section 3, Figure 1).

The paper changes the MobileViT block in four places, marked below:
  (1) the local 3x3 convolution becomes depthwise;
  (2) fusion is a 1x1 convolution (not 3x3);
  (3) fusion takes the local and global features (not the block input and global features);
  (4) the block input is added to the fusion output.
``MobileViTv3BlockV1`` builds on the MobileViTv1 block (multi-head attention over tokens) and
``MobileViTv3BlockV2`` on the MobileViTv2 block (separable linear attention).
"""
from collections import OrderedDict

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from .transformer import LinearTransformerLayer, TransformerLayer
from .utils import patch_aligned_size, resize


def unfold_patches(x, patch_size):
    """``[B, C, H, W]`` -> ``[B, C, P, N]``: P pixels per patch, N patches, reshape + permute only."""
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


def local_representation(channels, embed_dims, dilation, norm_cfg, act_cfg):
    """Depthwise 3x3 conv (+norm+act) (change 1), then a plain 1x1 conv to the attention width."""
    return nn.Sequential(OrderedDict(
        conv_dw=ConvModule(channels, channels, 3, padding=dilation, dilation=dilation,
                           groups=channels, norm_cfg=norm_cfg, act_cfg=act_cfg),
        conv_pw=nn.Conv2d(channels, embed_dims, 1, bias=False)))


class MobileViTv3BlockV1(nn.Module):
    """MobileViTv3 block built on MobileViTv1 (variants S, XS, XXS and their L2 forms).

    Tokens are the pixels at the same position of every 2x2 patch; ``num_layers`` transformer
    layers with multi-head attention run over them, then a final LayerNorm. Global features are
    projected back to ``channels`` by a 1x1 conv (+norm+act) before fusion. A feature map whose
    size is not a multiple of the patch is resized (bilinear) to one before unfolding and back to
    its own size after folding, as the authors do.

    Args:
        channels (int): Input and output channels C.
        embed_dims (int): Transformer width d.
        ffn_dims (int): Transformer FFN hidden width.
        num_layers (int): Number of transformer layers L.
        num_heads (int): Attention heads. Defaults to 4, as in all published variants.
        patch_size (int): Side of the square patch. Defaults to 2.
        drop_rate (float): Dropout after attention and after the FFN.
        attn_drop_rate (float): Dropout on attention weights.
        ffn_drop_rate (float): Dropout inside the FFN.
    """

    def __init__(self, channels, embed_dims, ffn_dims, num_layers, num_heads=4, patch_size=2,
                 drop_rate=0.0, attn_drop_rate=0.0, ffn_drop_rate=0.0,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='SiLU')):
        super().__init__()
        self.patch_size = patch_size
        # The authors' v1-based code gives this block no dilation, even in de-strided stages.
        self.local_rep = local_representation(channels, embed_dims, 1, norm_cfg, act_cfg)
        self.global_rep = nn.Sequential(
            *[TransformerLayer(embed_dims, ffn_dims, num_heads, drop_rate, attn_drop_rate,
                               ffn_drop_rate, act_cfg) for _ in range(num_layers)],
            nn.LayerNorm(embed_dims))
        self.conv_proj = ConvModule(embed_dims, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        # Changes (2) and (3): 1x1 fusion of [local, global].
        self.fusion = ConvModule(embed_dims + channels, channels, 1, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)

    def forward(self, x):
        local = self.local_rep(x)
        height, width = local.shape[-2:]
        aligned = patch_aligned_size(height, width, self.patch_size)
        tokens = local if aligned == (height, width) else resize(local, aligned, False)
        # [B, d, P, N] -> [B * P, N, d]: attention runs across patches for each pixel position.
        patches = unfold_patches(tokens, self.patch_size)
        batch, dims, pixels, num_patches = patches.shape
        patches = patches.permute(0, 2, 3, 1).reshape(batch * pixels, num_patches, dims)
        patches = self.global_rep(patches)
        patches = patches.reshape(batch, pixels, num_patches, dims).permute(0, 3, 1, 2)
        global_ = fold_patches(patches, self.patch_size, *aligned)
        if aligned != (height, width):
            global_ = resize(global_, (height, width), False)
        out = self.fusion(torch.cat([local, self.conv_proj(global_)], dim=1))
        return x + out  # change (4)


class MobileViTv3BlockV2(nn.Module):
    """MobileViTv3 block built on MobileViTv2 (width multipliers 0.5, 0.75, 1.0, ...).

    Separable linear attention on ``[B, C, P, N]`` with GroupNorm(1) as the norm, a final norm,
    then fusion of [global, local] by one 1x1 conv (+norm, no activation); there is no separate
    projection of the global features. An input whose size is not a multiple of the patch is
    resized (bilinear, align_corners=True) to one and keeps that size, as the authors do.

    Args:
        channels (int): Input and output channels C.
        embed_dims (int): Attention width d.
        ffn_dims (int): FFN hidden width.
        num_layers (int): Number of attention layers L.
        patch_size (int): Side of the square patch. Defaults to 2.
        dilation (int): Dilation of the local depthwise conv (de-strided stages).
        drop_rate, attn_drop_rate, ffn_drop_rate (float): Dropout rates (all 0 in the
            published models).
    """

    def __init__(self, channels, embed_dims, ffn_dims, num_layers, patch_size=2, dilation=1,
                 drop_rate=0.0, attn_drop_rate=0.0, ffn_drop_rate=0.0,
                 norm_cfg=dict(type='BN'), act_cfg=dict(type='SiLU')):
        super().__init__()
        self.patch_size = patch_size
        self.local_rep = local_representation(channels, embed_dims, dilation, norm_cfg, act_cfg)
        self.global_rep = nn.Sequential(
            *[LinearTransformerLayer(embed_dims, ffn_dims, drop_rate, attn_drop_rate,
                                     ffn_drop_rate, act_cfg) for _ in range(num_layers)],
            nn.GroupNorm(1, embed_dims))
        # Changes (2) and (3): 1x1 fusion of [global, local].
        self.fusion = ConvModule(2 * embed_dims, channels, 1, norm_cfg=norm_cfg, act_cfg=None)

    def forward(self, x):
        aligned = patch_aligned_size(*x.shape[-2:], self.patch_size)
        if aligned != tuple(x.shape[-2:]):
            x = resize(x, aligned, True)
        local = self.local_rep(x)
        patches = self.global_rep(unfold_patches(local, self.patch_size))
        global_ = fold_patches(patches, self.patch_size, *aligned)
        return x + self.fusion(torch.cat([global_, local], dim=1))  # change (4)
