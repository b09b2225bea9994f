# PASCAL VOC 2012 + SBD augmented training set, with the augmentation of the authors' v2-based
# DeepLabv3 yamls: voc12aug-512x512_v1.py (data layout, datasets, evaluator; what both take from
# mmseg instead of the authors: SBD for their COCO images, the 32-pixel grid of random scales,
# padding of small crops) with the v2 family's input and augmentation. Images are read by PIL
# (RGB after the model's data_preprocessor) and resized with PIL bicubic, as the authors' v2 code.
# What differs from the v2 authors besides (mmseg offers no exact counterpart):
# - random short-side resize in [256, 768] (long side at most 1024);
# - mmseg's PhotoMetricDistortion and RandomRotate stand in for the authors' versions of them;
# - the authors' random Gaussian noise has no 2-D mmseg transform and is left out.
_base_ = ['./voc12aug-512x512_v1.py']
# PIL decoding without EXIF rotation, as Image.open(...).convert('RGB') (v2 dataset_base.py:165).
load_image = dict(
    type='LoadImageFromFile', imdecode_backend='pillow', color_type='color_ignore_orientation')
train_pipeline = [
    load_image,
    dict(type='LoadAnnotations'),
    # Shorter side s, longer side at most 1024 (mmcv's keep-ratio rule for a (1024, s) scale).
    dict(
        type='RandomChoiceResize',
        scales=[(1024, short) for short in range(256, 769, 32)],
        resize_type='Resize',
        keep_ratio=True,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomCrop', crop_size=_base_.crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='RandomRotate', prob=1.0, degree=10, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs'),
]
# The authors' v2 evaluation: PIL RGB, shorter side to 512 with the long side truncated, PIL
# bicubic (ml-cvnets 84d992f data/datasets/segmentation/pascal_voc.py:205-212); the ground truth is
# read at the original size and never resized. MobileViTv3EncoderDecoder floors the input to the
# output stride and resizes the logits to the original size.
test_pipeline = [
    load_image,
    dict(type='ShortSideResize', short_side=512, backend='pillow', interpolation='bicubic'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# The v1 datasets and loaders with these pipelines (mmengine replaces lists whole, hence the
# datasets restated from the base's dicts).
dataset_train = dict(_base_.dataset_train, pipeline=train_pipeline)
dataset_aug = dict(_base_.dataset_aug, pipeline=train_pipeline)
train_dataloader = dict(batch_size=32, dataset=dict(datasets=[dataset_train, dataset_aug]))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
