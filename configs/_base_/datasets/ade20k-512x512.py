# ADE20K (150 classes), with the augmentation of the authors' v2-based ADE20K DeepLabv3 yaml.
# What differs from it (mmseg offers no exact counterpart):
# - random short-side resize in [256, 768] (long side at most 1024) is drawn from a 32-pixel grid
#   (RandomChoiceResize) and interpolates bilinearly, not bicubically;
# - crops smaller than 512 are padded to 512 by the data preprocessor (image 0, label 255);
# - mmseg's PhotoMetricDistortion and RandomRotate stand in for the authors' versions of them;
# - the authors' random Gaussian noise has no 2-D mmseg transform and is left out.
# Label 0 ("other") is ignored as in the authors' code (reduce_zero_label maps it to 255).
# Expected layout (mmseg's): data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(
        type='RandomChoiceResize',
        scales=list(range(256, 769, 32)),
        resize_type='ResizeShortestEdge',
        max_size=1024),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomRotate', prob=1.0, degree=10, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs'),
]
# The authors evaluate at 512x512 and compare at the original size (mmseg resizes back).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
