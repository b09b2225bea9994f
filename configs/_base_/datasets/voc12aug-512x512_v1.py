# PASCAL VOC 2012 + SBD augmented training set, with the augmentation of the authors' v1-based
# DeepLabv3 yamls. Images are read by cv2 and stay BGR (the model's data_preprocessor does not
# flip them), resized with cv2 bilinear, as the authors' v1 code. What differs from them (mmseg
# offers no exact counterpart):
# - the authors add COCO images of VOC classes ("use_coco_data"); this uses SBD, as mmseg's voc12aug;
# - random short-side resize in [256, 1024] is drawn from a 32-pixel grid (RandomChoiceResize);
# - crops smaller than 512 are padded to 512 by the data preprocessor (image 0, label 255).
# Expected layout (mmseg's, see its docs/en/user_guides/2_dataset_prepare.md):
#   data/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,SegmentationClassAug}
#   data/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,aug,val}.txt
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomChoiceResize',
        scales=list(range(256, 1025, 32)),
        resize_type='ResizeShortestEdge',
        max_size=4096),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
# The authors' v1 evaluation: cv2 BGR, a fixed 512x512 cv2 bilinear resize (aspect ratio not
# kept; ml-cvnets d38a116 data/datasets/segmentation/pascal_voc.py:113-119); the ground truth is
# read at the original size and never resized (:144-146). MobileViTv3EncoderDecoder brings the
# prediction back to the original size.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False, backend='cv2',
         interpolation='bilinear'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
dataset_train = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
    ann_file='ImageSets/Segmentation/train.txt',
    pipeline=train_pipeline)
dataset_aug = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
    ann_file='ImageSets/Segmentation/aug.txt',
    pipeline=train_pipeline)
train_dataloader = dict(
    batch_size=12,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='ConcatDataset', datasets=[dataset_train, dataset_aug]))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
# One confusion matrix over the set; mIoU is the authors' plain mean (mIoU_nanmean: mmseg's).
val_evaluator = dict(type='ConfusionMatrixIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
