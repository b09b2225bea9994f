# The paper's ablation on the demo data, row 2 of 5 (see row 1): row 1 with a 1x1 fusion conv
# (was 3x3).
_base_ = ['./mobilevitv1-xxs_ablation-1-mobilevitv1_1xb32-300it_demo-imagenet-96x96.py']
model = dict(backbone=dict(block_cfg=dict(fusion_kernel=1)))
