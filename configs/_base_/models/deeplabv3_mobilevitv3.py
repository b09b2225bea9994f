# DeepLabv3 on a v1-based MobileViTv3 (S / XS / XXS), as in the authors' segmentation yamls
# (MobileViTv3-v1/config/segmentation/deeplabv3_mobilevitv3_*.yaml): ASPP width 256 on layer5,
# element-wise dropout after the 1x1 projection, Dropout2d before the classifier, no auxiliary head,
# bilinear up-sampling with align_corners=False.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # The v1-based code feeds cv2's BGR image in [0, 1], never converted to RGB, without mean/std
    # (ml-cvnets d38a116 data/datasets/dataset_base.py:94, data/transforms/image.py:1148).
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    bgr_to_rgb=False,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    # Test time as the authors' v1 evaluation: input floored to a multiple of the output stride
    # (bilinear, align_corners=False), logits up-sampled to the input, then NEAREST to the
    # original size (engine/eval_segmentation.py:131-136, 155-157).
    type='MobileViTv3EncoderDecoder',
    stride_align_corners=False,
    logits_to_original='nearest',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MobileViTv3',
        arch='s',
        out_indices=(5, ),
        output_stride=16,
        with_exp_conv=False,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='MobileViTv3ASPPHead',
        in_channels=320,
        in_index=0,
        channels=256,
        dilations=(1, 6, 12, 18),
        aspp_dropout_ratio=0.1,
        aspp_dropout_type='element',
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        # PyTorch's mean over the labelled pixels, as the authors' cross-entropy.
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
