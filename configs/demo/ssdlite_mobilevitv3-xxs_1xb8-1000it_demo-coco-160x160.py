# Embedded demo: SSDLite + MobileViTv3-XXS trained from scratch on the synthetic COCO-format set
# (python tools/demo/make_demo_data.py --task det), sized to train and evaluate in minutes on a CPU.
# What differs from the COCO configs, and why:
# - 160x160 scenes (maps 10x10 to 1x1), 4 classes; objects span 0.1-0.45 of the image, the sizes of
#   the authors' anchors on the first three maps, so they are kept unchanged;
# - plain BN and flips only (no zoom-out / crop / colour jitter), for a short single-process run;
# - no pretrained weights exist offline: the backbone starts from its default initialisation;
# - higher lr with a short warm-up and no EMA, which would lag far behind over a short run;
# - post-processing keeps low-score boxes (threshold 0.01, the best 400 per class, the best 100 per
#   image, as the authors' v2-based code with 100 for COCO's 100 detections per image) so that
#   COCO's AP sees the whole precision-recall curve;
# - the input is RGB in [0, 1] (the model learns from scratch, so either channel order would do;
#   the COCO configs feed each family's own: BGR for v1-based models like this XXS).
_base_ = ['../_base_/models/ssdlite_mobilevitv3.py', '../_base_/default_runtime_det.py']

norm_cfg = dict(type='BN', requires_grad=True)
classes = ('disc', 'square', 'triangle', 'cross')  # mvit3_dense.datasets.synthetic.CLASSES
input_size = 160
model = dict(
    data_preprocessor=dict(bgr_to_rgb=True),
    backbone=dict(arch='xxs', norm_cfg=norm_cfg),
    neck=dict(in_channels=(80, 128), norm_cfg=norm_cfg),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=(80, 128, 256, 128, 128, 64),
        norm_cfg=norm_cfg,
        anchor_generator=dict(input_size=(input_size, input_size))),
    test_cfg=dict(score_thr=0.01, nms_pre=400, max_per_class=-1, max_per_img=100))

dataset_type = 'CocoDataset'
# Every data path below derives from data_root: --cfg-options data_root=DIR moves them all,
# the evaluator's ann_file included
# (tools/train.py, tools/test.py and the demo read configs with
# mvit3_dense.utils.config_loader.load_config, which moves each path that starts with data_root).
data_root = 'data/demo/coco/'
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric', ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

max_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.003, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
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
    visualization=dict(type='DetVisualizationHook'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
