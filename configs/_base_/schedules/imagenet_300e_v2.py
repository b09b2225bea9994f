# The authors' v2-based ImageNet recipe (MobileViTv3-v2/config/classification/imagenet/
# mobilevit_v3_*.py, after MobileViTv2): imagenet_300e_v1.py (AdamW, betas 0.9/0.999, lr 0.002;
# 300 epochs, cosine down to 0.0002, EMA momentum 0.0005, the same hooks) with weight decay 0.05,
# none on norm layers and biases, and the gradient norm clipped at 10; the learning rate rises
# linearly from 1e-6 to 0.002 over the first 20,000 iterations (16 epochs at the total batch of
# 1,020), then follows the per-epoch cosine.
_base_ = ['./imagenet_300e_v1.py']
optim_wrapper = dict(
    optimizer=dict(weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=5e-4, by_epoch=False, begin=0, end=20000),
    # The authors' cosine spans all 300 epochs and starts once the warm-up is over (epoch 16).
    dict(type='CosineAnnealingLR', T_max=284, eta_min=0.0002, by_epoch=True, begin=16, end=300),
]
# Learning rate of the total batch of 1,020.
auto_scale_lr = dict(base_batch_size=1020)
