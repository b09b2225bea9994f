# The authors' v2-based VOC recipe (MobileViTv3-v2/config/segmentation/pascal_voc/deeplabv3_mobilevitv3.yaml):
# AdamW lr 0.0005, weight decay 0.05 except on norm layers and biases, gradient norm clipped at 10,
# 500 linear warm-up iterations from lr / 10, then cosine to 1e-6; EMA of the weights, momentum 0.0005.
# 50 epochs of the 10,582 training images at 4 GPUs x 32: 50 x ceil(10582 / 128) = 4,150 iterations.
# Mixed precision as the authors: tools/train.py --amp.
max_iters = 4150
warmup_iters = 500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0005, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=False, begin=warmup_iters,
         end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=415)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=415, max_keep_ckpts=2,
                    save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0005, update_buffers=True,
         priority=49)
]
# Learning rate of the total batch of 128; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=128)
