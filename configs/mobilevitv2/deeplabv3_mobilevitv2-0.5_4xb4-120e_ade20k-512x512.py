# DeepLabv3 on MobileViTv2-0.5, ADE20K (Apple ml-cvnets 84d992f
# config/segmentation/ade20k/deeplabv3_mobilevitv2.yaml, width_multiplier 0.5): output stride 8,
# ASPP rates 12/24/36, 150 classes. Head, data, input convention (Pillow decoding and bicubic
# resizing, RGB in [0, 1]) and recipe (SGD lr 0.02, 4 GPUs x 4 images, 120 epochs, EMA) are those
# of the v2-based MobileViTv3 ADE20K configs, which follow the same yaml.
_base_ = [
    '../_base_/models/deeplabv3_mobilevitv3-v2.py', '../_base_/datasets/ade20k-512x512.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_120e_ade20k_v2.py'
]
crop_size = (512, 512)
# Apple's ImageNet-1k weights (mobilevitv2-0.5.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv2-0.5_in1k_backbone.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch='mobilevitv2-0.5',
        output_stride=8,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=256, dilations=(1, 12, 24, 36), num_classes=150),
    # max(C4 // 4, 128) channels, as Apple's auxiliary head.
    auxiliary_head=dict(in_channels=192, channels=128, num_classes=150))
