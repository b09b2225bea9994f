_base_ = [
    '../_base_/models/deeplabv3_mobilevitv3-v2.py', '../_base_/datasets/ade20k-512x512.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_120e_ade20k_v2.py'
]
crop_size = (512, 512)
# ImageNet-1k weights of the authors, converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv3-0.5_in1k_backbone.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='0.5', output_stride=8, init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=256, dilations=(1, 12, 24, 36), num_classes=150),
    # max(C4 // 4, 128) channels, as the authors' auxiliary head.
    auxiliary_head=dict(in_channels=192, channels=128, num_classes=150))
