_base_ = [
    '../_base_/models/ssdlite_mobilevitv3.py', '../_base_/datasets/coco_detection_320x320.py',
    '../_base_/default_runtime_det.py', '../_base_/schedules/ssdlite_200e_coco.py'
]
# ImageNet-1k weights of the authors, converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv3-xs_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='xs', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=(160, 160)),
    bbox_head=dict(in_channels=(160, 160, 256, 128, 128, 64)))
# MobileViTv3-v1/config/detection/ssd_mobilevitv3_x_small_320.yaml: weight decay 0.01 on every
# parameter; lr 0.0009 and 32 images per GPU as the base.
optim_wrapper = dict(optimizer=dict(weight_decay=0.01))
