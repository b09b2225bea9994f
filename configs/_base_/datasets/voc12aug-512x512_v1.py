# PASCAL VOC 2012 + SBD augmented training set, with the augmentation of the authors' v1-based
# DeepLabv3 yamls. What differs from them (mmseg offers no exact counterpart):
# - the authors add COCO images of VOC classes ("use_coco_data"); this uses SBD, as mmseg's voc12aug;
# - random short-side resize in [256, 1024] is drawn from a 32-pixel grid (RandomChoiceResize) and
#   interpolates bilinearly;
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
# The authors evaluate at 512x512 and compare at the original size (mmseg resizes back).
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=crop_size, keep_ratio=False),
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
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
