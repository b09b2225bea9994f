# The authors' v2-based ADE20K recipe (MobileViTv3-v2/config/segmentation/ade20k/deeplabv3_mobilevitv3.yaml):
# unlike their VOC recipe it uses SGD (momentum 0.9, lr 0.02, weight decay 1e-4 except on norm layers
# and biases), no warm-up, cosine to 0.0002 over 120 epochs, gradient norm clipped at 10, 4 GPUs x 4
# images; EMA of the weights, momentum 0.0005.
# 120 epochs of the 20,210 training images at 16 per iteration: 120 x ceil(20210 / 16) = 151,680.
# Mixed precision as the authors: tools/train.py --amp.
max_iters = 151680
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10., norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', eta_min=0.0002, by_epoch=False, begin=0, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=12640)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=12640, max_keep_ckpts=2,
                    save_best='mIoU'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0005, update_buffers=True,
         priority=49)
]
# Learning rate of the total batch of 16; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# rescales it linearly for another total batch.
auto_scale_lr = dict(enable=False, base_batch_size=16)
