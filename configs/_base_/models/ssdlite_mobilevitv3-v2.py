# SSDLite on a v2-based MobileViTv3 (1.0 / 0.75 / 0.5), as in the authors' detection yaml
# (MobileViTv3-v2/config/detection/ssd_coco/mobilevit_v3.yaml): the same detector as the v1-based
# one; only the post-processing differs.
_base_ = ['./ssdlite_mobilevitv3.py']
model = dict(
    backbone=dict(arch='1.0'),
    neck=dict(in_channels=(384, 512)),
    bbox_head=dict(in_channels=(384, 512, 256, 128, 128, 64)),
    # The v2-based code: score threshold 0.01, the 400 best boxes per class, NMS IoU 0.5 per class,
    # 200 per image (mmdet's nms_pre takes the best 400 over all classes of a level instead).
    test_cfg=dict(nms_pre=400, score_thr=0.01, max_per_img=200))
