# SSDLite on MobileViTv1-XXS, COCO at 320x320 (Apple ml-cvnets d38a116
# config/detection/ssd_mobilevit_xx_small_320.yaml; arXiv 2110.02178, Sec. 4.2.1). Detector, data,
# input convention (cv2 decoding and bilinear resizing, BGR in [0, 1]), post-processing and
# schedule (AdamW lr 0.0009, 500 warm-up iterations, cosine over 200 epochs, 4 GPUs x 32 images,
# EMA) are those of the v1-based MobileViTv3 SSDLite configs, which follow the same yamls; the
# yaml's weight decay is 0.01 on every parameter (no_decay_bn_filter_bias: false).
_base_ = [
    '../_base_/models/ssdlite_mobilevitv3.py', '../_base_/datasets/coco_detection_320x320.py',
    '../_base_/default_runtime_det.py', '../_base_/schedules/ssdlite_200e_coco.py'
]
# Apple's ImageNet-1k weights (mobilevit_xxs.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv1-xxs_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv1-xxs', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=(64, 80)),
    bbox_head=dict(in_channels=(64, 80, 256, 128, 128, 64)))
optim_wrapper = dict(optimizer=dict(weight_decay=0.01))
