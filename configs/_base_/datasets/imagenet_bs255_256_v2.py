# ImageNet-1k as the authors' v2-based classification config reads it (the MobileViTv2 recipe), on
# imagenet_256.py: images decoded by Pillow and converted to RGB (`Image.open(path).convert('RGB')`,
# ml-cvnets 84d992f data/datasets/dataset_base.py:165; the arrays here are BGR until the data
# preprocessor's to_rgb, so mmpretrain's colour transforms see the order they expect). Training:
# random resized crop 256 (PIL bicubic), horizontal flip, RandAugment (torchvision's defaults: 2
# operations at magnitude 9 of 30, black fill), random erasing with p = 0.25; MixUp / CutMix come
# with the model's train_cfg. Evaluation: PIL bicubic resizing (image_pil.py:105-121) and the
# floor-offset centre crop (image_pil.py:665-666). A fixed 256 for training (their
# `batch_sampler`).
_base_ = ['./imagenet_256.py']
train_pipeline = [
    # Pillow decoding, as in evaluation.
    dict(type='LoadImageFromFile', imdecode_backend='pillow',
         color_type='color_ignore_orientation'),
    dict(type='RandomResizedCrop', scale=256, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=30,
        magnitude_level=9,
        hparams=dict(pad_val=0, interpolation='bicubic')),
    # torchvision's RandomErasing defaults, as the authors call it: zeros, 2-33 % of the area.
    dict(type='RandomErasing', erase_prob=0.25, mode='const', fill_color=(0, 0, 0),
         min_area_ratio=0.02, max_area_ratio=1 / 3),
    dict(type='PackInputs'),
]
test_pipeline = [
    # PIL's convert('RGB'): greyscale and CMYK JPEGs converted by Pillow, EXIF orientation NOT
    # applied (the authors do not transpose; mmcv's 'color' flag would).
    dict(type='LoadImageFromFile', imdecode_backend='pillow',
         color_type='color_ignore_orientation'),
    dict(type='ResizeEdge', scale=288, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='FloorCenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=255, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=255, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
