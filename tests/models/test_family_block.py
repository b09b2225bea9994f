"""One MobileViT block, four switches: presets, the paper's ablation, lineage rules, naming."""
import pytest
import torch
import torch.nn as nn

from mvit3_dense.models import MobileViTv3
from mvit3_dense.models.layers import BLOCK_PRESETS, MobileViTBlock

SWITCHES = ('depthwise_local', 'fusion_kernel', 'fuse_local', 'input_residual')
# MobileViTv1-S blocks (layer3, layer4, layer5): channels C and attention width d.
S_BLOCKS = [(96, 144), (128, 192), (160, 240)]
S_TOTAL = 5_578_632  # Apple's MobileViTv1-S with a 1000-class classifier (params.tsv)
# The paper's ablation (sec. 4.5): the changes added one at a time to MobileViTv1-S.
ABLATION = [
    ('MobileViTv1-S', {}),
    ('+ 1x1 fusion', dict(fusion_kernel=1)),
    ('+ fuse local and global', dict(fusion_kernel=1, fuse_local=True)),
    ('+ input residual', dict(fusion_kernel=1, fuse_local=True, input_residual=True)),
    ('+ depthwise local conv', dict(fusion_kernel=1, fuse_local=True, input_residual=True,
                                    depthwise_local=True)),
]


def count(module):
    return sum(p.numel() for p in module.parameters())


def blocks(model):
    return [m for m in model.modules() if isinstance(m, MobileViTBlock)]


def settings(block):
    return {k: getattr(block, k) for k in ('attention',) + SWITCHES}


def test_presets_are_the_published_blocks():
    v1, v3v1 = BLOCK_PRESETS['mobilevitv1'], BLOCK_PRESETS['mobilevitv3-v1']
    assert (v1['depthwise_local'], v1['fusion_kernel'], v1['fuse_local'],
            v1['input_residual']) == (False, 3, False, False)
    assert (v3v1['depthwise_local'], v3v1['fusion_kernel'], v3v1['fuse_local'],
            v3v1['input_residual']) == (True, 1, True, True)
    assert BLOCK_PRESETS['mobilevitv2']['fusion_kernel'] is None
    assert BLOCK_PRESETS['mobilevitv3-v2'] == dict(BLOCK_PRESETS['mobilevitv2'], fusion_kernel=1,
                                                   fuse_local=True, input_residual=True)
    for arch, preset in [('xxs', 'mobilevitv3-v1'), ('0.5', 'mobilevitv3-v2'),
                         ('mobilevitv1-xxs', 'mobilevitv1'), ('mobilevitv2-0.5', 'mobilevitv2')]:
        model = MobileViTv3(arch=arch, init_cfg=None)
        assert model.block_cfg == BLOCK_PRESETS[preset]
        assert all(settings(b) == BLOCK_PRESETS[preset] for b in blocks(model)), arch


@pytest.mark.parametrize('preset', list(BLOCK_PRESETS))
def test_block_parameters_by_hand(preset):
    c, d, f, layers = 32, 48, 96, 2
    block = MobileViTBlock(c, d, f, layers, **BLOCK_PRESETS[preset])
    cfg = BLOCK_PRESETS[preset]
    local = (9 if cfg['depthwise_local'] else 9 * c) * c + 2 * c + c * d
    if cfg['attention'] == 'multihead':
        layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        projection = d * c + 2 * c
        fusion_in = (d if cfg['fuse_local'] else c) + c
    else:
        layer = 4 * d + (d * (1 + 2 * d) + 1 + 2 * d) + (d * d + d) + (d * f + f) + (f * d + d)
        projection = 0 if cfg['fusion_kernel'] else d * c + 2 * c
        fusion_in = d + (d if cfg['fuse_local'] else c)
    kernel = cfg['fusion_kernel']
    fusion = 0 if kernel is None else kernel ** 2 * fusion_in * c + 2 * c
    assert count(block) == local + layers * layer + 2 * d + projection + fusion


def test_input_residual_adds_the_block_input():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 8, 12)
    for preset in ('mobilevitv1', 'mobilevitv2'):
        plain = MobileViTBlock(16, 24, 48, 1, **BLOCK_PRESETS[preset]).eval()
        with_residual = MobileViTBlock(16, 24, 48, 1, **dict(BLOCK_PRESETS[preset],
                                                             input_residual=True)).eval()
        with_residual.load_state_dict(plain.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(with_residual(x) - plain(x), x, rtol=0, atol=1e-5)


def test_fusion_sees_the_local_output_or_the_block_input():
    # With every fusion weight zero except those reading the "other" input (not the global
    # features), the output depends on the block input only through the chosen tensor.
    x = torch.randn(1, 8, 4, 4)
    for fuse_local in (False, True):
        block = MobileViTBlock(8, 8, 16, 1, depthwise_local=False, fusion_kernel=1,
                               fuse_local=fuse_local, input_residual=False).eval()
        weight = block.fusion.conv.weight
        with torch.no_grad():
            weight.zero_()
            weight[:, :8] = torch.eye(8)[..., None, None]  # cat[other, global]: other first
            other = block.local_rep(x) if fuse_local else x
            expected = nn.functional.silu(block.fusion.bn(other))
            torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize('name,switches', ABLATION, ids=[n for n, _ in ABLATION])
def test_ablation_rows_count_and_train(name, switches):
    model = MobileViTv3(arch='mobilevitv1-s', block_cfg=switches, init_cfg=None)
    # Each change alters every block by a closed-form count (C, d per block):
    delta = 0
    if switches.get('fusion_kernel') == 1:  # fusion weight 3x3 -> 1x1 over 2C inputs
        delta -= sum(8 * 2 * c * c for c, _ in S_BLOCKS)
    if switches.get('fuse_local'):  # fusion inputs C + C -> d + C
        delta += sum((d - c) * c for c, d in S_BLOCKS)
    if switches.get('depthwise_local'):  # local 3x3 weights 9C^2 -> 9C
        delta -= sum(9 * c * (c - 1) for c, _ in S_BLOCKS)
    total = count(model) + 640 * 1000 + 1000
    assert total == S_TOTAL + delta
    assert total == {'MobileViTv1-S': 5_578_632, '+ 1x1 fusion': 4_759_432,
                     '+ fuse local and global': 4_785_032, '+ input residual': 4_785_032,
                     '+ depthwise local conv': 4_327_688}[name]
    # One training step on a tiny batch reaches every parameter.
    model.out_indices = (6,)
    model.train()
    head = nn.Linear(640, 10)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.01)
    logits = head(model(torch.randn(2, 3, 64, 96))[0].mean(dim=(2, 3)))
    loss = nn.functional.cross_entropy(logits, torch.tensor([1, 7]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    before = model.layer5[1].fusion.conv.weight.clone()
    optimizer.step()
    assert not torch.equal(before, model.layer5[1].fusion.conv.weight)
    assert torch.isfinite(loss)


def test_state_dict_names_follow_the_switches():
    v1 = MobileViTv3(arch='mobilevitv1-xxs', init_cfg=None).state_dict()
    v2 = MobileViTv3(arch='mobilevitv2-0.5', init_cfg=None).state_dict()
    v3 = MobileViTv3(arch='xxs', init_cfg=None).state_dict()
    assert 'layer3.1.local_rep.conv_3x3.conv.weight' in v1
    assert v1['layer3.1.fusion.conv.weight'].shape == (48, 96, 3, 3)
    assert 'layer3.1.local_rep.conv_dw.conv.weight' in v3
    assert v3['layer3.1.fusion.conv.weight'].shape == (64, 128, 1, 1)  # [local d, global C]
    assert 'layer3.1.conv_proj.conv.weight' in v2 and not any('fusion' in k for k in v2)
    assert v2['layer3.1.conv_proj.conv.weight'].shape == (128, 64, 1, 1)
    mobilevitv2 = MobileViTv3(arch='mobilevitv2-0.5', init_cfg=None)
    assert not mobilevitv2.layer3[1].conv_proj.with_activation
    assert MobileViTv3(arch='mobilevitv1-xxs', init_cfg=None).layer3[1].conv_proj.with_activation


def dilations(stage):
    return [m.dilation[0] for m in stage.modules()
            if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]


def test_dilation_rules_per_family():
    # MobileViTv1: the MobileViT block is never dilated (its 3x3 local and fusion convs).
    os8 = MobileViTv3(arch='mobilevitv1-xxs', output_stride=8, init_cfg=None)
    assert dilations(os8.layer4) == [1, 1, 1] and dilations(os8.layer5) == [2, 1, 1]
    # MobileViTv2: the block's depthwise conv gets the doubled dilation.
    os16 = MobileViTv3(arch='mobilevitv2-0.5', output_stride=16, init_cfg=None)
    assert dilations(os16.layer4) == [1, 1] and dilations(os16.layer5) == [1, 2]
    os8 = MobileViTv3(arch='mobilevitv2-0.5', output_stride=8, init_cfg=None)
    assert dilations(os8.layer4) == [1, 2] and dilations(os8.layer5) == [2, 4]


@pytest.mark.parametrize('arch,expected', [
    # MobileViTv1 resizes the local features to a patch multiple and back.
    ('mobilevitv1-xxs', [(29, 38), (15, 19), (8, 10)]),
    # MobileViTv2 resizes the block input and keeps that size.
    ('mobilevitv2-0.5', [(30, 38), (16, 20), (8, 10)]),
])
def test_odd_sizes_follow_the_lineage(arch, expected):
    model = MobileViTv3(arch=arch, out_indices=(3, 4, 5), init_cfg=None).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 225, 301))
    assert [tuple(o.shape[-2:]) for o in outs] == expected


def test_names_and_channels():
    assert MobileViTv3(arch='mobilevitv1-s', out_indices=range(7), init_cfg=None).out_channels \
        == [16, 32, 64, 96, 128, 160, 640]
    assert MobileViTv3(arch='mobilevitv1-xxs', out_indices=(6,), init_cfg=None).out_channels \
        == [320]
    # Any width: MobileViTv2 rules, no expansion conv.
    model = MobileViTv3(arch='mobilevitv2-1.25', out_indices=range(6), init_cfg=None)
    assert model.out_channels == [40, 80, 160, 320, 480, 640] and model.conv_1x1_exp is None
    assert MobileViTv3(arch='MobileViTv2-0.6', init_cfg=None).block_cfg == \
        BLOCK_PRESETS['mobilevitv2']
    # The same table with the MobileViTv3 block is the plain width.
    v2, v3 = MobileViTv3.arch_zoo['mobilevitv2-1.0'], MobileViTv3.arch_zoo['1.0']
    assert v2['stages'] == v3['stages'] and (v2['block'], v3['block']) == \
        ('mobilevitv2', 'mobilevitv3-v2')


@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='mobilevitv1-xxxs'), "'mobilevitv1-xxs'"),
    (dict(arch='mobilevitv2-wide'), "'mobilevitv2-<width>'"),
    (dict(arch='xxs', block_cfg=dict(attention='separable')), "cannot set 'attention'"),
    (dict(arch='xxs', block_cfg=dict(fusion=1)), "unknown block_cfg keys ['fusion']"),
    (dict(arch='xxs', block_cfg=dict(fusion_kernel=5)), 'fusion_kernel must be 1, 3 or None'),
    (dict(arch='mobilevitv2-0.5', block_cfg=dict(fuse_local=True)),
     'fuse_local=True needs a fusion conv'),
])
def test_bad_block_choices_are_explained(kwargs, message):
    with pytest.raises(ValueError) as info:
        MobileViTv3(init_cfg=None, **kwargs)
    assert message in str(info.value)


def test_custom_table_takes_a_preset_of_its_family():
    table = dict(family='v1', stem=8, expand_ratio=2, exp_channels=64, block='mobilevitv1',
                 stages=[[8, 1, 1, None, None, 0], [16, 2, 1, None, None, 0],
                         [24, 2, 1, 32, 64, 1], [32, 2, 1, 32, 64, 1], [40, 2, 1, 48, 96, 1]])
    model = MobileViTv3(arch=table, init_cfg=None)
    assert model.block_cfg == BLOCK_PRESETS['mobilevitv1']
    with pytest.raises(ValueError, match="does not fit family 'v1'"):
        MobileViTv3(arch=dict(table, block='mobilevitv2'), init_cfg=None)
    with pytest.raises(ValueError, match='unknown block preset'):
        MobileViTv3(arch=dict(table, block='v1'), init_cfg=None)
