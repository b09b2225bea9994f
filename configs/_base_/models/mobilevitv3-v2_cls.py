# ImageNet classifier on a v2-based MobileViTv3 (width 0.5 / 0.75 / 1.0), as in the authors' config
# (MobileViTv3-v2/config/classification/imagenet/mobilevit_v3_*.py, the MobileViTv2 recipe): global
# average pooling of layer5, one linear layer without dropout; cross-entropy with label smoothing
# 0.1 on MixUp (alpha 0.2) or CutMix (alpha 1.0) batches, one of the two chosen per batch.
data_preprocessor = dict(
    num_classes=1000,
    # The authors' v2-based models take RGB in [0, 1] without mean/std normalisation (PIL
    # convert('RGB'), ml-cvnets 84d992f data/datasets/dataset_base.py:165; /255 only,
    # data/transforms/image_pil.py:1651). mmcv decodes to BGR: to_rgb swaps to RGB.
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    to_rgb=True)
model = dict(
    type='ImageClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='MobileViTv3', arch='1.0', out_indices=(5, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MobileViTv3ClsHead',
        num_classes=1000,
        in_channels=512,
        dropout_rate=0.,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.2), dict(type='CutMix', alpha=1.0)]))
