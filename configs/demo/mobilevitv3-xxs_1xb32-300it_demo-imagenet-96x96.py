# Embedded demo: the MobileViTv3-XXS ImageNet classifier trained from scratch on the synthetic
# ImageNet-format set (python tools/demo/make_demo_data.py --task cls), sized to train and evaluate
# in minutes on a CPU. What differs from the ImageNet configs, and why:
# - 4 classes of 96x96 images (one object each on clutter) instead of 1000 classes at 256x256;
# - the authors' multi-scale batches scaled down with the images: sizes 64 to 128 around 96;
# - plain BN, higher lr with a short warm-up, no EMA (it would lag far behind over 300 iterations).
# Input convention: the v1-based one of the base model (OpenCV decoding, BGR in [0, 1], no
# channel swap), in training and evaluation alike; trained from scratch, it could use either.
_base_ = ['../_base_/models/mobilevitv3_cls.py', '../_base_/default_runtime_cls.py']

model = dict(
    backbone=dict(arch='xxs', drop_rate=0.),
    head=dict(in_channels=512, num_classes=4, topk=(1, )))

dataset_type = 'ImageNet'
# Every data path below derives from data_root: --cfg-options data_root=DIR moves them all
# (tools/train.py, tools/test.py and the demo read configs with
# mvit3_dense.utils.config_loader.load_config, which moves each path that starts with data_root).
data_root = 'data/demo/imagenet'
# The demo's classes (mvit3_dense.datasets.CLASSES); ImageNet's 1000 names are the default.
metainfo = dict(classes=('disc', 'square', 'triangle', 'cross'))
train_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='cv2'),
    dict(type='VariableRandomResizedCrop', scale=96, crop_ratio_range=(0.35, 1.0),
         interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='cv2'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    # Decoding a 96x96 JPEG is cheap: a worker process would only compete for the CPU cores.
    num_workers=0,
    # A sized sampler: the variable batches are planned per pass over the set, which the
    # iteration-based loop restarts as often as needed.
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='VariableBatchSampler', base_size=96, min_size=64, max_size=128,
                       num_scales=3, size_divisor=32),
    dataset=dict(
        type='VariableScaleDataset',
        dataset=dict(type=dataset_type, data_root=data_root, split='train', metainfo=metainfo,
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', metainfo=metainfo,
                 pipeline=test_pipeline))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_iters = 300
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=30, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # With tools/test.py --show-dir: one picture per 25 test images (8 of the 200).
    visualization=dict(type='VisualizationHook', enable=False, interval=25))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
