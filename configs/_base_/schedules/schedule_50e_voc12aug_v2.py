# The authors' v2-based VOC recipe (MobileViTv3-v2/config/segmentation/pascal_voc/deeplabv3_mobilevitv3.yaml):
# schedule_50e_voc12aug_v1.py (500 linear warm-up iterations from lr / 10, cosine to 1e-6, EMA with
# momentum 0.0005, the same hooks) with AdamW lr 0.0005, weight decay 0.05 except on norm layers and
# biases, no head multiplier, gradient norm clipped at 10.
# 50 epochs of the 10,582 training images at 4 GPUs x 32: 50 x ceil(10582 / 128) = 4,150 iterations.
_base_ = ['./schedule_50e_voc12aug_v1.py']
max_iters = 4150
optim_wrapper = dict(
    optimizer=dict(lr=0.0005, weight_decay=0.05),
    paramwise_cfg=dict(_delete_=True, norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    _base_.param_scheduler[0],
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=_base_.warmup_iters,
         end=max_iters),
]
# Validation and a checkpoint every 5 epochs (415 iterations).
train_cfg = dict(max_iters=max_iters, val_interval=415)
default_hooks = dict(checkpoint=dict(interval=train_cfg['val_interval']))
# Learning rate of the total batch of 128.
auto_scale_lr = dict(base_batch_size=128)
