# The paper's ablation on the demo data, row 4 of 5 (see row 1): row 3 with the block input added
# to the fusion output.
_base_ = ['./mobilevitv1-xxs_ablation-3-fuselocal_1xb32-300it_demo-imagenet-96x96.py']
model = dict(backbone=dict(block_cfg=dict(input_residual=True)))
