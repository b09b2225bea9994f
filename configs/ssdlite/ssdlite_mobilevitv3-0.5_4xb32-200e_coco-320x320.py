_base_ = [
    '../_base_/models/ssdlite_mobilevitv3-v2.py', '../_base_/datasets/coco_detection_320x320.py',
    '../_base_/default_runtime_det.py', '../_base_/schedules/ssdlite_200e_coco.py'
]
# ImageNet-1k weights of the authors, converted with
#   python tools/model_converters/cvnets2mmdense.py SRC {checkpoint} --kind backbone
# (another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH).
checkpoint = 'checkpoints/mobilevitv3-0.5_in1k_backbone.pth'
model = dict(
    backbone=dict(arch='0.5', init_cfg=dict(type='Pretrained', checkpoint=checkpoint)),
    neck=dict(in_channels=(192, 256)),
    bbox_head=dict(in_channels=(192, 256, 256, 128, 128, 64)))
# The v2-based code's input: PIL decoding and bicubic resize (see the dataset config).
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline_v2))
val_dataloader = dict(dataset=dict(pipeline=_base_.test_pipeline_v2))
test_dataloader = val_dataloader
