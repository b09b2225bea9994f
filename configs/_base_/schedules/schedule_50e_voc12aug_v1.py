# The authors' v1-based VOC recipe (MobileViTv3-v1/config/segmentation/deeplabv3_mobilevitv3_*.yaml):
# AdamW lr 0.0009 (x10 on the head), weight decay 0.01 on every parameter, 500 linear warm-up
# iterations from lr / 10, then cosine to 1e-6 (x10 on the head); EMA of the weights, momentum 0.0005.
# The yamls give 12 images per GPU; the total batch of 48 assumes 4 GPUs as the v2-based yamls state.
# 50 epochs of the 10,582 training images at 48 per iteration: 50 x ceil(10582 / 48) = 11,050.
# Mixed precision as the authors: tools/train.py --amp.
max_iters = 11050
warmup_iters = 500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0009, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    # eta_min_ratio keeps the head's floor 10x the backbone's, as the authors' multiplier does.
    dict(type='CosineAnnealingLR', eta_min_ratio=1e-6 / 0.0009, by_epoch=False,
         begin=warmup_iters, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=1105)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1105, max_keep_ckpts=2,
                    save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0005, update_buffers=True,
         priority=49)
]
# Learning rate of the total batch of 48; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=48)
