# DeepLabv3 on a v2-based MobileViTv3 (width 0.5 / 0.75 / 1.0), as in the authors' segmentation yamls
# (MobileViTv3-v2/config/segmentation/*/deeplabv3_mobilevitv3.yaml): ASPP width 512 on layer5,
# Dropout2d after the 1x1 projection, no dropout before the classifier, bilinear up-sampling with
# align_corners=True, and an auxiliary FCN head on layer4 (3x3 conv to max(C4 // 4, 128), Dropout2d,
# 1x1 classifier) with loss weight 0.4. Channels below are those of width 1.0.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # The v2-based code feeds PIL's RGB image in [0, 1] without mean/std (ml-cvnets 84d992f
    # data/datasets/dataset_base.py:165, data/transforms/image_pil.py:1651); mmcv's loaders give
    # BGR, hence the flip.
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
model = dict(
    # Test time as the authors' v2 evaluation: input floored to a multiple of the output stride
    # (bilinear, align_corners=True), the 1/OS logits resized once, bilinear, to the original
    # size (engine/eval_segmentation.py:75-82, 93).
    type='MobileViTv3EncoderDecoder',
    stride_align_corners=True,
    logits_to_original='bilinear',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MobileViTv3',
        arch='1.0',
        out_indices=(4, 5),
        output_stride=16,
        with_exp_conv=False,
        norm_cfg=norm_cfg),
    decode_head=dict(
        type='MobileViTv3ASPPHead',
        in_channels=512,
        in_index=1,
        channels=512,
        dilations=(1, 6, 12, 18),
        aspp_dropout_ratio=0.1,
        aspp_dropout_type='channel',
        dropout_ratio=0.,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=384,
        in_index=0,
        channels=128,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=True,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4, avg_non_ignore=True)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
