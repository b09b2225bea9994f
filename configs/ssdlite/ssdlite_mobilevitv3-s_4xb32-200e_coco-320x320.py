_base_ = [
    '../_base_/models/ssdlite_mobilevitv3.py', '../_base_/datasets/coco_detection_320x320.py',
    '../_base_/default_runtime_det.py', '../_base_/schedules/ssdlite_200e_coco.py'
]
# ImageNet-1k weights of the authors, converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv3-s_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='s', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=(256, 320)),
    bbox_head=dict(in_channels=(256, 320, 256, 128, 128, 64)))
# MobileViTv3-v1/config/detection/ssd_mobilevitv3_small_320.yaml: max lr 0.004 reached from
# 0.00009 over the 500 warm-up iterations (start factor 0.00009 / 0.004), weight decay 0.01 on
# every parameter; 32 images per GPU as the base.
optim_wrapper = dict(optimizer=dict(lr=0.004, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.00009 / 0.004, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=0, end=200, T_max=200,
         convert_to_iter_based=True),
]
