from collections import OrderedDict

import torch.nn as nn
from mmcv.cnn import build_activation_layer

from .attention import MultiheadSelfAttention, SeparableSelfAttention


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer on tokens ``[B, N, C]`` (v1-based blocks).

    Written out rather than taken from mmpretrain because the authors drop out after the
    attention projection and after the FFN (``drop_rate``) but use a separate rate inside the FFN
    (``ffn_drop_rate``), and their FFN activation is Swish.
    """

    def __init__(self, embed_dims, ffn_dims, num_heads, drop_rate=0.0, attn_drop_rate=0.0,
                 ffn_drop_rate=0.0, act_cfg=dict(type='SiLU')):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = MultiheadSelfAttention(embed_dims, num_heads, attn_drop=attn_drop_rate)
        self.drop = nn.Dropout(drop_rate)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.ffn = nn.Sequential(OrderedDict(
            fc1=nn.Linear(embed_dims, ffn_dims),
            act=build_activation_layer(act_cfg),
            ffn_drop=nn.Dropout(ffn_drop_rate),
            fc2=nn.Linear(ffn_dims, embed_dims),
            drop=nn.Dropout(drop_rate)))

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.ffn(self.norm2(x))


class LinearTransformerLayer(nn.Module):
    """Pre-norm separable-attention layer on ``[B, C, P, N]`` (v2-based blocks).

    The norm is MobileViTv2's "LayerNorm2d": one GroupNorm group, i.e. statistics over channels,
    pixels and patches together; the FFN is two 1x1 convolutions.
    """

    def __init__(self, embed_dims, ffn_dims, drop_rate=0.0, attn_drop_rate=0.0, ffn_drop_rate=0.0,
                 act_cfg=dict(type='SiLU')):
        super().__init__()
        self.norm1 = nn.GroupNorm(1, embed_dims)
        self.attn = SeparableSelfAttention(embed_dims, attn_drop=attn_drop_rate)
        self.drop = nn.Dropout(drop_rate)
        self.norm2 = nn.GroupNorm(1, embed_dims)
        self.ffn = nn.Sequential(OrderedDict(
            fc1=nn.Conv2d(embed_dims, ffn_dims, 1),
            act=build_activation_layer(act_cfg),
            ffn_drop=nn.Dropout(ffn_drop_rate),
            fc2=nn.Conv2d(ffn_dims, embed_dims, 1),
            drop=nn.Dropout(drop_rate)))

    def forward(self, x):
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.ffn(self.norm2(x))
