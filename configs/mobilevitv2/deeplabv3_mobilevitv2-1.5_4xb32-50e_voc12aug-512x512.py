# DeepLabv3 on MobileViTv2-1.5, Pascal VOC 2012 + aug (Apple ml-cvnets 84d992f
# config/segmentation/pascal_voc/deeplabv3_mobilevitv2.yaml, width_multiplier 1.5): the 0.5
# config at this width.
_base_ = ['./deeplabv3_mobilevitv2-0.5_4xb32-50e_voc12aug-512x512.py']
# Apple's ImageNet-1k weights (mobilevitv2-1.5.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv2-1.5_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv2-1.5', init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=768),
    auxiliary_head=dict(in_channels=576, channels=144))
