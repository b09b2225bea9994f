"""MobileViTv1 and MobileViTv2 built here reproduce Apple's ml-cvnets classifiers tensor for tensor.

Apple's fixtures (randomised weights, stage outputs and logits; reference folder ``apple/``,
sibling of the MobileViTv3 references) are loaded into our networks by pairing the two
state dicts in module order, each pair with the same shape: both codes register their modules
in the same order, so a pairing that fails is a structural difference of the block or the table.
"""
import pytest
import torch
import torch.nn as nn

from mvit3_dense.models import MobileViTv3

from ..conftest import missing_reference, reference_root

CASES = {'mobilevit_xxs': 'mobilevitv1-xxs', 'mobilevitv2_0.5': 'mobilevitv2-0.5'}
STAGES = ['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
TOLERANCE = 1e-4  # relative to each tensor's largest magnitude


def apple_dir():
    root = reference_root().parent / 'apple'
    if not (root / 'fixtures').is_dir():
        missing_reference(f"Apple's MobileViTv1/v2 fixtures not found at {root}; set "
                          'MVIT3_REFERENCE to a folder whose sibling apple/ holds fixtures/')
    return root


def load(name):
    return torch.load(apple_dir() / 'fixtures' / name, map_location='cpu', weights_only=True)


def pair_by_order(theirs, ours):
    """Rename ``theirs`` to the keys of ``ours``: same count, same order, same shape each."""
    assert len(theirs) == len(ours), (len(theirs), len(ours))
    renamed = {}
    for (their_key, value), (our_key, target) in zip(theirs.items(), ours.items()):
        assert value.shape == target.shape, (their_key, our_key, value.shape, target.shape)
        # A name-level sanity check on top of the shapes: a norm pairs with a norm.
        assert their_key.split('.')[-1] == our_key.split('.')[-1], (their_key, our_key)
        renamed[our_key] = value
    return renamed


def build(name):
    arch = CASES[name]
    outputs = len(MobileViTv3(arch=arch, init_cfg=None).all_channels)
    backbone = MobileViTv3(arch=arch, out_indices=range(outputs), init_cfg=None)
    state = load(f'{name}_state_dict.pt')
    head = {k: v for k, v in state.items() if k.startswith('classifier.')}
    body = {k: v for k, v in state.items() if not k.startswith('classifier.')}
    backbone.load_state_dict(pair_by_order(body, backbone.state_dict()), strict=True)
    fc = nn.Linear(backbone.all_channels[-1], 1000)
    fc.load_state_dict(pair_by_order(head, fc.state_dict()), strict=True)
    return backbone.eval(), fc.eval()


def regenerate_input(io):
    x = torch.randn(io['x_shape'], generator=torch.Generator().manual_seed(io['x_seed']))
    assert torch.equal(x.flatten()[:16], io['x_first16'])
    check = torch.stack([x.double().sum(), (x.double() ** 2).sum()])
    torch.testing.assert_close(check, io['x_check'].double(), rtol=1e-10, atol=0)
    return x


def relative_difference(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize('size', ['', '_320x256'])
@pytest.mark.parametrize('name', list(CASES))
def test_outputs_match_apples_classifier(name, size):
    backbone, fc = build(name)
    io = load(f'{name}_io{size}.pt')
    x = regenerate_input(io)
    with torch.no_grad():
        outs = backbone(x)
        logits = fc(outs[-1].mean(dim=(2, 3)))
    ours = dict(zip(STAGES, outs))
    if backbone.conv_1x1_exp is not None:
        ours['conv_1x1_exp'] = outs[6]
    else:  # MobileViTv2's conv_1x1_exp is an Identity: Apple's entry repeats layer_5.
        assert torch.equal(io['conv_1x1_exp'], io['layer_5'])
        ours['conv_1x1_exp'] = outs[5]
    ours['logits'] = logits
    compared = [k for k in ours if k in io]
    # The 320x256 files keep layer_3 onwards (the odd-size path of the blocks).
    assert compared == (STAGES + ['conv_1x1_exp', 'logits'])[(3 if size else 0):]
    differences = {}
    for key in compared:
        assert ours[key].shape == io[key].shape, key
        differences[key] = relative_difference(ours[key], io[key])
    print(name, size or '_256x256', {k: f'{v:.2e}' for k, v in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


def test_pairing_refuses_a_structural_difference():
    # The pairing is the proof of structure: a MobileViTv3 block in place of MobileViTv1's
    # (depthwise local conv, 1x1 fusion) cannot take Apple's MobileViTv1 tensors.
    state = load('mobilevit_xxs_state_dict.pt')
    body = {k: v for k, v in state.items() if not k.startswith('classifier.')}
    changed = MobileViTv3(arch='mobilevitv1-xxs', block_cfg=dict(depthwise_local=True),
                          init_cfg=None)
    with pytest.raises(AssertionError, match='local_rep'):
        pair_by_order(body, changed.state_dict())


@pytest.mark.parametrize('size', ['', '_nonsquare'])
def test_deeplabv3_encoder_matches_apples_at_output_stride_16(size):
    # Apple's DeepLabv3-MobileViTv1-XXS (VOC) encoder: layer_5 keeps stride 16 and, in the
    # MobileViTv1 code, no convolution is dilated.
    state = load('deeplabv3_mobilevit_xxs_voc_state_dict.pt')
    encoder = {k: v for k, v in state.items() if k.startswith('encoder.')}
    backbone = MobileViTv3(arch='mobilevitv1-xxs', output_stride=16, with_exp_conv=False,
                           init_cfg=None)
    backbone.load_state_dict(pair_by_order(encoder, backbone.state_dict()), strict=True)
    dilated = [m for m in backbone.modules() if isinstance(m, nn.Conv2d) and m.dilation != (1, 1)]
    assert dilated == []
    io = load(f'deeplabv3_mobilevit_xxs_voc_io{size}.pt')
    with torch.no_grad():
        out = backbone.eval()(regenerate_input(io))[0]
    assert out.shape == io['backbone_l5'].shape
    difference = relative_difference(out, io['backbone_l5'])
    print('deeplabv3_mobilevit_xxs_voc', size or '_256x256', f'layer_5 {difference:.2e}')
    assert difference <= TOLERANCE
