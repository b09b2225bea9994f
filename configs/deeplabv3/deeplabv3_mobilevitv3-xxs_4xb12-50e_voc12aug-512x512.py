_base_ = [
    '../_base_/models/deeplabv3_mobilevitv3.py', '../_base_/datasets/voc12aug-512x512_v1.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_50e_voc12aug_v1.py'
]
crop_size = (512, 512)
# ImageNet-1k weights of the authors, converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv3-xxs_in1k_backbone.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='xxs', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=128))
