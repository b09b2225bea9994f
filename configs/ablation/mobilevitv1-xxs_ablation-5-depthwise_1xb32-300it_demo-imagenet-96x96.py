# The paper's ablation on the demo data, row 5 of 5 (see row 1): row 4 with a depthwise local 3x3
# conv, i.e. the MobileViTv3 block on MobileViTv1-XXS's channels.
_base_ = ['./mobilevitv1-xxs_ablation-4-residual_1xb32-300it_demo-imagenet-96x96.py']
model = dict(backbone=dict(block_cfg=dict(depthwise_local=True)))
