# DeepLabv3 on MobileViTv2-0.5, Pascal VOC 2012 + aug (Apple ml-cvnets 84d992f
# config/segmentation/pascal_voc/deeplabv3_mobilevitv2.yaml, width_multiplier 0.5). Head (ASPP 512,
# auxiliary FCN head on layer4), data, input convention (Pillow decoding and bicubic resizing, RGB
# in [0, 1]) and recipe (AdamW lr 0.0005, 4 GPUs x 32 images, 50 epochs, EMA) are those of the
# v2-based MobileViTv3 DeepLabv3 configs, which follow the same yaml.
_base_ = [
    '../_base_/models/deeplabv3_mobilevitv3-v2.py', '../_base_/datasets/voc12aug-512x512_v2.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_50e_voc12aug_v2.py'
]
crop_size = (512, 512)
# Apple's ImageNet-1k weights (mobilevitv2-0.5.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv2-0.5_in1k_backbone.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='mobilevitv2-0.5', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=256),
    # max(C4 // 4, 128) channels, as Apple's auxiliary head.
    auxiliary_head=dict(in_channels=192, channels=128))
