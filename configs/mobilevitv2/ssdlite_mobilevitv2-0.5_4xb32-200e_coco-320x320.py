# SSDLite on MobileViTv2-0.5, COCO at 320x320 (Apple ml-cvnets 84d992f
# config/detection/ssd_coco/mobilevit_v2.yaml, width_multiplier 0.5). Detector, data, input
# convention (Pillow decoding and bicubic resizing, RGB in [0, 1]), post-processing and schedule
# (AdamW lr 0.0009, 500 warm-up iterations, cosine over 200 epochs, 4 GPUs x 32 images, EMA) are
# those of the v2-based MobileViTv3 SSDLite configs, which follow the same yaml; the yaml's weight
# decay (0.05) applies to every parameter (no_decay_bn_filter_bias: false).
_base_ = [
    '../_base_/models/ssdlite_mobilevitv3-v2.py', '../_base_/datasets/coco_detection_320x320.py',
    '../_base_/default_runtime_det.py', '../_base_/schedules/ssdlite_200e_coco.py'
]
# Apple's ImageNet-1k weights (mobilevitv2-0.5.pt), converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv2-0.5_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='mobilevitv2-0.5', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=(192, 256)),
    bbox_head=dict(in_channels=(192, 256, 256, 128, 128, 64)))
# The v2 family's input: Pillow decoding and bicubic resize (see the dataset config).
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline_v2))
val_dataloader = dict(dataset=dict(pipeline=_base_.test_pipeline_v2))
test_dataloader = val_dataloader
