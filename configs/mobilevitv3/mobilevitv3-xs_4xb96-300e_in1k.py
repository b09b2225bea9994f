_base_ = [
    '../_base_/models/mobilevitv3_cls.py', '../_base_/datasets/imagenet_bs96_256_v1.py',
    '../_base_/default_runtime_cls.py', '../_base_/schedules/imagenet_300e_v1.py'
]
model = dict(backbone=dict(arch='xs'), head=dict(in_channels=640))
