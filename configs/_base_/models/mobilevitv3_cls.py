# ImageNet classifier on a v1-based MobileViTv3 (S / XS / XXS and the L2 forms), as in the authors'
# yamls (MobileViTv3-v1/config/classification/mobilevitv3_*.yaml): the 1x1 expansion conv (layer
# index 6), global average pooling, dropout 0.1, one linear layer; label smoothing 0.1.
data_preprocessor = dict(
    num_classes=1000,
    # The authors' v1-based models take BGR in [0, 1] without mean/std normalisation: their
    # loader reads with cv2.imread and never converts (ml-cvnets d38a116
    # data/datasets/dataset_base.py:94; /255 only, data/transforms/image.py:1148). The pipelines
    # decode to BGR, so no channel swap here, for training and evaluation alike.
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    to_rgb=False)
model = dict(
    type='ImageClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='MobileViTv3', arch='s', out_indices=(6, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='MobileViTv3ClsHead',
        num_classes=1000,
        in_channels=960,
        dropout_rate=0.1,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))
