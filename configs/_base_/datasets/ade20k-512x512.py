# ADE20K (150 classes), with the augmentation of the authors' v2-based ADE20K DeepLabv3 yaml.
# Images are read by PIL (RGB after the model's data_preprocessor) and resized with PIL bicubic,
# as the authors' v2 code. What differs from it (mmseg offers no exact counterpart):
# - random short-side resize in [256, 768] (long side at most 1024) is drawn from a 32-pixel grid
#   (RandomChoiceResize);
# - crops smaller than 512 are padded to 512 by the data preprocessor (image 0, label 255);
# - mmseg's PhotoMetricDistortion and RandomRotate stand in for the authors' versions of them;
# - the authors' random Gaussian noise has no 2-D mmseg transform and is left out.
# Label 0 ("other") is ignored as in the authors' code (reduce_zero_label maps it to 255).
# Expected layout (mmseg's): data/ade/ADEChallengeData2016/{images,annotations}/{training,validation}
dataset_type = 'ADE20KDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
# PIL decoding without EXIF rotation, as Image.open(...).convert('RGB') (v2 dataset_base.py:165).
load_image = dict(
    type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation')
train_pipeline = [
    load_image,
    dict(type='LoadAnnotations', reduce_zero_label=True),
    # Shorter side s, longer side at most 1024 (mmcv's keep-ratio rule for a (1024, s) scale).
    dict(
        type='RandomChoiceResize',
        scales=[(1024, short) for short in range(256, 769, 32)],
        resize_type='Resize',
        keep_ratio=True,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomRotate', prob=1.0, degree=10, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs'),
]
# The authors' v2 evaluation: PIL RGB, shorter side to 512 with the long side truncated, PIL
# bicubic (ml-cvnets 84d992f data/datasets/segmentation/ade20k.py:122-129); the ground truth is
# read at the original size and never resized. MobileViTv3EncoderDecoder floors the input to the
# output stride and resizes the logits to the original size.
test_pipeline = [
    load_image,
    dict(type='ShortSideResize', short_side=512, backend='pillow', interpolation='bicubic'),
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
# One confusion matrix over the set; mIoU is the authors' plain mean (mIoU_nanmean: mmseg's).
val_evaluator = dict(type='ConfusionMatrixIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
