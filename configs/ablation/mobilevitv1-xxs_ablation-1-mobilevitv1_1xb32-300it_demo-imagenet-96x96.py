# The paper's ablation (arXiv 2209.15159, Sec. 4.5: the four changes to the MobileViT block
# added one at a time) on the embedded demo data, row 1 of 5: MobileViTv1-XXS itself (full 3x3
# local conv, 3x3 fusion of [block input, global], no residual). Each later row inherits the one
# before it and adds one change, in the paper's order: 1x1 fusion, fusion of local and global
# features, input residual, depthwise local conv; row 5 is the MobileViTv3 block on
# MobileViTv1-XXS's channels (the published MobileViTv3-XXS also widens layers 3-5 and the 1x1
# expansion: that is the demo config itself). Budget, data, recipe, seed and input convention
# (OpenCV decoding, BGR in [0, 1], as the v1 family) are the demo config's, from scratch.
_base_ = ['../demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py']
model = dict(
    backbone=dict(arch='mobilevitv1-xxs'),
    # MobileViTv1-XXS's 1x1 expansion: min(4 x 80, 960) channels.
    head=dict(in_channels=320))
