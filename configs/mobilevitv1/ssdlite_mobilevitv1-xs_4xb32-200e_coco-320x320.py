# SSDLite on MobileViTv1-XS, COCO at 320x320 (Apple ml-cvnets d38a116
# config/detection/ssd_mobilevit_x_small_320.yaml): the XXS config with this backbone.
_base_ = ['./ssdlite_mobilevitv1-xxs_4xb32-200e_coco-320x320.py']
# Apple's ImageNet-1k weights (mobilevit_xs.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv1-xs_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv1-xs', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=(80, 96)),
    bbox_head=dict(in_channels=(80, 96, 256, 128, 128, 64)))
