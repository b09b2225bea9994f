# SSDLite on MobileViTv2-1.5, COCO at 320x320 (Apple ml-cvnets 84d992f
# config/detection/ssd_coco/mobilevit_v2.yaml, width_multiplier 1.5): the 0.5 config at this
# width.
_base_ = ['./ssdlite_mobilevitv2-0.5_4xb32-200e_coco-320x320.py']
# Apple's ImageNet-1k weights (mobilevitv2-1.5.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv2-1.5_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv2-1.5', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=(576, 768)),
    bbox_head=dict(in_channels=(576, 768, 256, 128, 128, 64)))
