# SSDLite on a v2-based MobileViTv3 (1.0 / 0.75 / 0.5), as in the authors' detection yaml
# (MobileViTv3-v2/config/detection/ssd_coco/mobilevit_v3.yaml): the same detector as the v1-based
# one; the input's channel order and the post-processing differ.
_base_ = ['./ssdlite_mobilevitv3.py']
model = dict(
    # The v2-based code feeds PIL's RGB image in [0, 1] (cvnets 84d992f
    # data/datasets/dataset_base.py:165, data/transforms/image_pil.py:1651); mmcv loads BGR.
    data_preprocessor=dict(bgr_to_rgb=True),
    backbone=dict(arch='1.0'),
    neck=dict(in_channels=(384, 512)),
    bbox_head=dict(in_channels=(384, 512, 256, 128, 128, 64)),
    # The v2-based code's post-processing (MobileViTv3SSDHead; cvnets 84d992f
    # cvnets/models/detection/ssd.py:448-485): per class, probabilities above 0.01 (:146, 252-256),
    # the best 400 of each class, torchvision batched NMS at IoU 0.5, the best 200 per image.
    test_cfg=dict(score_thr=0.01, nms_pre=400, max_per_class=-1, max_per_img=200))
