_base_ = [
    '../_base_/models/mobilevitv3-v2_cls.py', '../_base_/datasets/imagenet_bs255_256_v2.py',
    '../_base_/default_runtime_cls.py', '../_base_/schedules/imagenet_300e_v2.py'
]
model = dict(backbone=dict(arch='0.5'), head=dict(in_channels=256))
