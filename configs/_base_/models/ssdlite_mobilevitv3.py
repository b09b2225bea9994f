# SSDLite on a v1-based MobileViTv3 (S / XS / XXS), as in the authors' detection yamls
# (MobileViTv3-v1/config/detection/ssd_mobilevitv3_*_320.yaml): maps of layer4 and layer5 plus
# three separable stride-2 layers and a global pool, one separable predictor per map, the authors'
# anchors.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='DetDataPreprocessor',
    # The v1-based code feeds cv2's BGR image in [0, 1], never converted to RGB, without mean/std
    # normalisation (cvnets d38a116 data/datasets/dataset_base.py:94,
    # data/transforms/image.py:1148).
    mean=[0., 0., 0.],
    std=[255., 255., 255.],
    bgr_to_rgb=False,
    pad_size_divisor=1)
model = dict(
    type='SingleStageDetector',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='MobileViTv3',
        arch='s',
        out_indices=(4, 5),
        with_exp_conv=False,
        norm_cfg=norm_cfg),
    neck=dict(
        type='MobileViTv3SSDNeck',
        in_channels=(256, 320),
        extra_channels=(256, 128, 128),
        global_channels=64,
        norm_cfg=norm_cfg),
    bbox_head=dict(
        type='MobileViTv3SSDHead',
        num_classes=80,
        in_channels=(256, 320, 256, 128, 128, 64),
        proj_channels=(512, 256, 256, 128, 128, 64),
        norm_cfg=norm_cfg,
        anchor_generator=dict(
            type='MobileViTv3SSDAnchorGenerator',
            ratios=([2, 3], [2, 3], [2, 3], [2, 3], [2, 3], [2]),
            scale_range=(0.1, 1.05),
            input_size=(320, 320)),
        # The authors' variances 0.1 (centre) and 0.2 (size); their decoded boxes are neither
        # clipped to the image nor bounded in size (SSDBoxCoder drops mmdet's size clamp).
        bbox_coder=dict(
            type='SSDBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=[0.1, 0.1, 0.2, 0.2],
            clip_border=False)),
    # Matching at IoU 0.5 (each object also keeps its best anchor), 3:1 hard negatives.
    train_cfg=dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=0.5,
            neg_iou_thr=0.5,
            min_pos_iou=0.,
            ignore_iof_thr=-1,
            gt_max_assign_all=False),
        sampler=dict(type='PseudoSampler'),
        smoothl1_beta=1.,
        allowed_border=-1,
        pos_weight=-1,
        neg_pos_ratio=3,
        debug=False),
    # The v1-based code's post-processing (MobileViTv3SSDHead; cvnets d38a116
    # cvnets/models/detection/ssd.py:255-292, 359-372): per class, probabilities above 0.05 (the
    # argparse default, :176), torchvision NMS at IoU 0.5 (the yamls), the first 200 boxes of each
    # class; no limit per image, results grouped by class.
    test_cfg=dict(
        score_thr=0.05,
        nms_pre=-1,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_class=200,
        max_per_img=-1))
