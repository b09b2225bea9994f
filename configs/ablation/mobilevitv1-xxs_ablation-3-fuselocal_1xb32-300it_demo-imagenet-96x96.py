# The paper's ablation on the demo data, row 3 of 5 (see row 1): row 2 with the fusion taking the
# local representation (the local 1x1 conv's output) with the global one, instead of the block
# input.
_base_ = ['./mobilevitv1-xxs_ablation-2-fusion1x1_1xb32-300it_demo-imagenet-96x96.py']
model = dict(backbone=dict(block_cfg=dict(fuse_local=True)))
