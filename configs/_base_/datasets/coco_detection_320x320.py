# COCO 2017 detection at 320x320 (data/coco: annotations/instances_{train,val}2017.json,
# train2017/, val2017/). The authors' recipe names the input size only; the augmentation is that of
# mmdet's SSDLite config (configs/ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py): zoom-out,
# IoU-constrained random crop, resize, flip, photometric distortion.
#
# Images are read and resized as each family of the authors' code does (the channel order fed to
# the model is set by the model's data_preprocessor):
# - v1-based (S, XS, XXS): cv2 decoding, cv2 bilinear resize (cvnets d38a116
#   data/datasets/detection/coco.py:82-88, data/transforms/image.py:99): `train_pipeline`,
#   `test_pipeline`, used by the dataloaders below;
# - v2-based (1.0, 0.75, 0.5): PIL decoding, PIL bicubic resize (cvnets 84d992f
#   data/datasets/detection/coco_base.py:86-99, data/transforms/image_pil.py:121; yaml
#   image_augmentation.resize.interpolation): `train_pipeline_v2`, `test_pipeline_v2`, which the
#   v2-based configs put into their dataloaders.
# Evaluation resizes to a fixed 320x320 (aspect ratio not kept), as both.
dataset_type = 'CocoDataset'
data_root = 'data/coco/'
input_size = 320
backend_args = None
# The steps both families share; only decoding and resizing differ.
load_v1 = dict(type='LoadImageFromFile', backend_args=backend_args)
# PIL decodes, without EXIF rotation (the authors' Image.open(...).convert('RGB'); mmcv hands the
# image on as BGR, like cv2's), and resizes bicubic.
load_v2 = dict(
    type='LoadImageFromFile',
    imdecode_backend='pillow',
    color_type='color_ignore_orientation',
    backend_args=backend_args)
resize_v1 = dict(type='Resize', scale=(input_size, input_size), keep_ratio=False)
resize_v2 = dict(resize_v1, backend='pillow', interpolation='bicubic')
load_boxes = dict(type='LoadAnnotations', with_bbox=True)
# Zoom-out canvas filled with the ImageNet mean colour (RGB), as mmdet's SSD configs.
zoom_out = dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 4))
iou_crop = dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3)
flip = dict(type='RandomFlip', prob=0.5)
photometric = dict(
    type='PhotoMetricDistortion',
    brightness_delta=32,
    contrast_range=(0.5, 1.5),
    saturation_range=(0.5, 1.5),
    hue_delta=18)
pack_test = dict(
    type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
train_pipeline = [
    load_v1, load_boxes, zoom_out, iou_crop, resize_v1, flip, photometric,
    dict(type='PackDetInputs')
]
test_pipeline = [load_v1, resize_v1, load_boxes, pack_test]
train_pipeline_v2 = [
    load_v2, load_boxes, zoom_out, iou_crop, resize_v2, flip, photometric,
    dict(type='PackDetInputs')
]
test_pipeline_v2 = [load_v2, resize_v2, load_boxes, pack_test]
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
# COCO mAP as the authors compute it (MobileViTv3CocoMetric): pycocotools with its default
# maxDets 1/10/100, category id = the sorted ids of the annotation file, all 12 statistics
# unrounded.
val_evaluator = dict(
    type='MobileViTv3CocoMetric',
    ann_file=data_root + 'annotations/instances_val2017.json',
    metric='bbox',
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator
