# The authors' v2-based ImageNet recipe (MobileViTv3-v2/config/classification/imagenet/
# mobilevit_v3_*.py, after MobileViTv2): AdamW (betas 0.9/0.999, weight decay 0.05, none on norm
# layers and biases), gradient norm clipped at 10, 300 epochs; the learning rate rises linearly from
# 1e-6 to 0.002 over the first 20,000 iterations (16 epochs at the total batch of 1,020), then
# follows a per-epoch cosine down to 0.0002. EMA of the weights (momentum 0.0005) evaluates and is
# what the authors released. Mixed precision as the authors: tools/train.py --amp.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=5e-4, by_epoch=False, begin=0, end=20000),
    # The authors' cosine spans all 300 epochs and starts once the warm-up is over (epoch 16).
    dict(type='CosineAnnealingLR', T_max=284, eta_min=0.0002, by_epoch=True, begin=16, end=300),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0005, update_buffers=True,
         priority=49)
]
# Learning rate of the total batch of 1,020; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=1020)
