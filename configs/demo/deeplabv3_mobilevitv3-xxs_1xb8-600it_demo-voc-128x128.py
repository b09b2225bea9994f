# Embedded demo: DeepLabv3 + MobileViTv3-XXS trained from scratch on the synthetic VOC-format set
# (python tools/demo/make_demo_data.py --task seg), sized to train and evaluate in minutes on a CPU.
# What differs from the VOC configs, and why:
# - 128x128 scenes and output stride 8 (ASPP on a 16x16 map), rates scaled to that map (3/6/9),
#   so that objects span several feature cells;
# - a narrow head (64 channels) and plain BN, for speed on one process;
# - no pretrained weights exist offline: the backbone starts from its default initialisation;
# - higher lr with a short warm-up and no EMA, which would lag far behind over 600 iterations;
# - input convention: RGB in [0, 1] (bgr_to_rgb=True), not the v1 authors' BGR: the model is trained
#   from scratch here, so either order works; the demo's published figures were measured with RGB.
_base_ = ['../_base_/models/deeplabv3_mobilevitv3.py', '../_base_/default_runtime_seg.py']
# mvit3_dense.datasets registers the demo's dataset class.
custom_imports = dict(imports=['mvit3_dense', 'mvit3_dense.datasets'], allow_failed_imports=False)

norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (128, 128)
model = dict(
    data_preprocessor=dict(size=crop_size, bgr_to_rgb=True),
    backbone=dict(arch='xxs', output_stride=8, drop_rate=0., norm_cfg=norm_cfg),
    decode_head=dict(
        in_channels=128,
        channels=64,
        dilations=(1, 3, 6, 9),
        num_classes=5,
        norm_cfg=norm_cfg))

dataset_type = 'DemoVOCDataset'
# Every data path below derives from data_root: --cfg-options data_root=DIR moves them all
# (tools/train.py, tools/test.py and the demo read configs with
# mvit3_dense.utils.config_loader.load_config, which moves each path that starts with data_root).
data_root = 'data/demo/voc'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    # Decoding a 128x128 JPEG is cheap: a worker process would only compete for the CPU cores.
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 600
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.002, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=50, end=max_iters),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # With tools/test.py --show-dir: a picture of every test image (mmseg's default, interval=50,
    # draws every 50th batch: none of the demo's 13).
    visualization=dict(type='SegVisualizationHook', interval=1))
randomness = dict(seed=0)
