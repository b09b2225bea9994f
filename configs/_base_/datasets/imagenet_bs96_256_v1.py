# ImageNet-1k as the authors' v1-based classification yamls read it (cvnets' ImageNet loader), on
# imagenet_256.py: images decoded by OpenCV and kept in BGR order (the model's data preprocessor
# does not convert them either: ml-cvnets d38a116 data/datasets/dataset_base.py:94), random resized
# crop (bilinear) and horizontal flip for training; for evaluation cv2 bilinear resizing
# (image.py:87-99) and the floor-offset centre crop (image.py:1044-1045).
#
# Multi-scale training as the authors do it: each batch is drawn at one of the sizes 160, 192, 256,
# 288, 320 (5 scales from 160 to 320 around the base 256, multiples of 32), with the batch size
# growing as the area shrinks (96 at 256 and above, 170 at 192, 245 at 160 for this per-GPU base of
# 96); see mvit3_dense.datasets.variable_batch. To train at a fixed 256 instead, replace the
# train_dataloader's batch_sampler with None and its dataset with the inner ImageNet dataset.
_base_ = ['./imagenet_256.py']
train_pipeline = [
    # OpenCV decoding (BGR), as in evaluation.
    dict(type='LoadImageFromFile', imdecode_backend='cv2'),
    # Output size: the batch's size chosen by VariableBatchSampler, else `scale`.
    dict(type='VariableRandomResizedCrop', scale=256, interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    # cv2.imread(IMREAD_COLOR): BGR, greyscale JPEGs as three equal channels, EXIF orientation
    # applied (imagenet.py:54-80, dataset_base.py:94).
    dict(type='LoadImageFromFile', imdecode_backend='cv2', color_type='color'),
    dict(type='ResizeEdge', scale=288, edge='short', backend='cv2', interpolation='bilinear'),
    dict(type='FloorCenterCrop', crop_size=256),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=96,
    batch_sampler=dict(
        type='VariableBatchSampler', base_size=256, min_size=160, max_size=320, num_scales=5,
        size_divisor=32),
    dataset=dict(
        _delete_=True,
        type='VariableScaleDataset',
        dataset=dict(_base_.train_dataloader.dataset, pipeline=train_pipeline)))
val_dataloader = dict(batch_size=96, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
