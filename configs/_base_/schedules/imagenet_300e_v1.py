# The authors' v1-based ImageNet recipe (MobileViTv3-v1/config/classification/mobilevitv3_*.yaml;
# arXiv 2209.15159, Sec. 4.1): AdamW (betas 0.9/0.999, weight decay 0.01 on every parameter),
# 300 epochs; the learning rate rises linearly from 0.0002 to 0.002 over the first 3,000 iterations,
# then follows a per-epoch cosine down to 0.0002. EMA of the weights (momentum 0.0005) evaluates and
# is what the authors released. Mixed precision as the authors: tools/train.py --amp.
# With the multi-scale batches an epoch is about 2,280 iterations at a total base batch of 384
# (each cycle of the five sizes holds 703 images per GPU in 5 batches), so the warm-up ends in
# epoch 1; the cosine starts at epoch 2 and keeps 0.002 until then (the authors' curve is 0.999 x
# 0.002 there).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=3000),
    dict(type='CosineAnnealingLR', T_max=298, eta_min=0.0002, by_epoch=True, begin=2, end=300),
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
# Learning rate of the total batch of 384; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=384)
