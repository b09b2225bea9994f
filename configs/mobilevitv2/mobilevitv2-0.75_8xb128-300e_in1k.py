# MobileViTv2-0.75 on ImageNet-1k (Apple ml-cvnets 84d992f
# config/classification/imagenet/mobilevit_v2.yaml, width_multiplier 0.75): the 0.5 config at
# this width.
_base_ = ['./mobilevitv2-0.5_8xb128-300e_in1k.py']
model = dict(backbone=dict(arch='mobilevitv2-0.75'), head=dict(in_channels=384))
