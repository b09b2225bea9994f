# DeepLabv3 on MobileViTv1-XXS, Pascal VOC 2012 + aug (Apple ml-cvnets d38a116
# config/segmentation/deeplabv3_mobilevit_xx_small.yaml; arXiv 2110.02178, Sec. 4.2.2). Head,
# data, input convention (cv2 decoding and bilinear resizing, BGR in [0, 1]) and recipe (AdamW lr
# 0.0009, x10 on the head, weight decay 0.01, 500 warm-up iterations, cosine to 1e-6, EMA) are
# those of the v1-based MobileViTv3 DeepLabv3 configs, which follow the same yamls; MobileViTv1
# trains with 32 images per GPU on 4 GPUs: 50 epochs = 50 x ceil(10582 / 128) = 4,150 iterations.
_base_ = [
    '../_base_/models/deeplabv3_mobilevitv3.py', '../_base_/datasets/voc12aug-512x512_v1.py',
    '../_base_/default_runtime_seg.py', '../_base_/schedules/schedule_50e_voc12aug_v1.py'
]
crop_size = (512, 512)
# Apple's ImageNet-1k weights (mobilevit_xxs.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv1-xxs_in1k_backbone.pth'
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch='mobilevitv1-xxs', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    decode_head=dict(in_channels=80))
train_dataloader = dict(batch_size=32)
max_iters = 4150
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=max_iters)]
# Validation and a checkpoint every 5 epochs (415 iterations).
train_cfg = dict(max_iters=max_iters, val_interval=415)
default_hooks = dict(checkpoint=dict(interval=train_cfg['val_interval']))
# Learning rate of the total batch of 128.
auto_scale_lr = dict(base_batch_size=128)
