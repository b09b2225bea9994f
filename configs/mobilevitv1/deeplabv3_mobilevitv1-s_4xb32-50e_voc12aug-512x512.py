# DeepLabv3 on MobileViTv1-S, Pascal VOC 2012 + aug (Apple ml-cvnets d38a116
# config/segmentation/deeplabv3_mobilevit_small.yaml): the XXS config with this backbone.
_base_ = ['./deeplabv3_mobilevitv1-xxs_4xb32-50e_voc12aug-512x512.py']
# Apple's ImageNet-1k weights (mobilevit_s.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv1-s_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv1-s', init_cfg=dict(checkpoint=checkpoint)),
    decode_head=dict(in_channels=160))
