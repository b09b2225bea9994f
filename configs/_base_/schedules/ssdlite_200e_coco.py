# The authors' COCO detection recipe (MobileViTv3 detection yamls; arXiv 2209.15159, Sec. 4.3):
# AdamW lr 0.0009, weight decay 0.05 on every parameter (the yamls' no_decay_bn_filter_bias:
# false), 500 linear warm-up iterations (from 0.00009), then cosine over 200 epochs, 4 GPUs x 32
# images; EMA of the weights (momentum 0.0005). This is the v2-based yaml
# (MobileViTv3-v2/config/detection/ssd_coco/mobilevit_v3.yaml); the v1-based configs change
# weight decay, lr and batch as their yamls do.
# Mixed precision: tools/train.py --amp.
max_epochs = 200
warmup_iters = 500
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0009, betas=(0.9, 0.999), weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-6,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        T_max=max_epochs,
        convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Learning rate of the total batch of 128; `tools/train.py --cfg-options auto_scale_lr.enable=True`
# scales it to another total.
auto_scale_lr = dict(enable=False, base_batch_size=128)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=3, save_best='coco/bbox_mAP'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='DetVisualizationHook'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.0005, update_buffers=True,
         priority=49)
]
