import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiheadSelfAttention(nn.Module):
    """Multi-head self-attention over tokens ``[B, N, C]`` (v1-based blocks).

    One fused qkv projection whose output is laid out as [q heads | k heads | v heads], as in the
    authors' code, so their weights load unchanged; the product runs through
    ``F.scaled_dot_product_attention`` (default scale ``head_dim ** -0.5``).

    ``fused=False`` spells the product out (scale, matmul, softmax, matmul): the same result,
    for exporters whose decomposition of the fused op adds masking operators their backend does
    not take (ExecuTorch's XNNPACK, ``mvit3_dense.utils.executorch_export``).
    """

    def __init__(self, embed_dims, num_heads, attn_drop=0.0, qkv_bias=True):
        super().__init__()
        self.fused = True
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x):
        batch, tokens, channels = x.shape
        # [q heads | k heads | v heads] along the channels, each [B, heads, N, head_dim].
        q, k, v = (t.reshape(batch, tokens, self.num_heads, -1).transpose(1, 2)
                   for t in self.qkv(x).split(channels, dim=-1))
        drop = self.attn_drop if self.training else 0.0
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            # Batched over (batch, head) as 3-D products: no broadcasting for exporters to expand.
            q, k, v = (t.reshape(-1, tokens, t.shape[-1]) for t in (q, k, v))
            weights = torch.bmm(q * q.shape[-1] ** -0.5, k.transpose(1, 2))
            out = torch.bmm(F.dropout(weights.softmax(dim=-1), drop), v)
            out = out.reshape(batch, self.num_heads, tokens, -1)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, channels))


class SeparableSelfAttention(nn.Module):
    """Separable self-attention of MobileViTv2, linear in the number of patches (v2-based blocks).

    Works on ``[B, C, P, N]`` (P pixels per patch, N patches). A single latent query scores every
    patch (softmax over N); the scores pool the keys into one context vector per pixel position,
    which gates ReLU(values). It is not dot-product attention, so ``scaled_dot_product_attention``
    does not apply.
    """

    def __init__(self, embed_dims, attn_drop=0.0):
        super().__init__()
        self.embed_dims = embed_dims
        self.qkv = nn.Conv2d(embed_dims, 1 + 2 * embed_dims, 1)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Conv2d(embed_dims, embed_dims, 1)

    def forward(self, x):
        query, key, value = self.qkv(x).split([1, self.embed_dims, self.embed_dims], dim=1)
        scores = self.attn_drop(query.softmax(dim=-1))
        context = (key * scores).sum(dim=-1, keepdim=True)
        return self.proj(F.relu(value) * context)
