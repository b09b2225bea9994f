"""The attention spelled out (``fused=False``, what the ExecuTorch export traces) computes what
``scaled_dot_product_attention`` does, with the same head layout of the fused qkv weights."""
import torch

from mvit3_dense.models.layers.attention import MultiheadSelfAttention


def test_unfused_attention_equals_the_fused_one_and_the_textbook_product():
    torch.manual_seed(0)
    attention = MultiheadSelfAttention(embed_dims=48, num_heads=4).eval()
    x = torch.randn(3, 10, 48)
    with torch.no_grad():
        fused = attention(x)
        attention.fused = False
        unfused = attention(x)
        # By hand: [q heads | k heads | v heads] of 12 channels each, softmax(q k^T / sqrt(12)) v.
        q, k, v = attention.qkv(x).split(48, dim=-1)
        heads = []
        for h in range(4):
            part = slice(12 * h, 12 * h + 12)
            weights = (q[..., part] @ k[..., part].transpose(1, 2) / 12 ** 0.5).softmax(-1)
            heads.append(weights @ v[..., part])
        expected = attention.proj(torch.cat(heads, dim=-1))
    torch.testing.assert_close(unfused, fused, rtol=0, atol=1e-6)
    torch.testing.assert_close(fused, expected, rtol=0, atol=1e-6)
