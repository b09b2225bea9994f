import copy

import pytest
import torch
import torch.nn as nn
from mmengine.registry import init_default_scope

import mvit3_dense  # noqa: F401  (registers MobileViTv3)
from mvit3_dense.models import MobileViTv3

# Exact counts of the authors' code (spec, reference params.tsv): classifier with a 1000-class
# linear head, backbone without the classifier, and without the 1x1 expansion too.
PARAMS = {
    's': (5_763_912, 4_802_912, 4_493_792),
    's-l2': (5_169_864, 4_208_864, 3_899_744),
    'xs': (2_490_360, 1_849_360, 1_745_680),
    'xs-l2': (2_257_320, 1_616_320, 1_512_640),
    'xxs': (1_249_448, 736_448, 669_888),
    'xxs-l2': (1_145_288, 632_288, 565_728),
    '1.0': (5_139_409, 4_626_409, 4_626_409),
    '0.75': (2_999_641, 2_614_641, 2_614_641),
    '0.5': (1_429_985, 1_172_985, 1_172_985),
}
CHANNELS = {
    'xxs': [16, 16, 24, 64, 80, 128, 512],
    'xs': [16, 32, 48, 96, 160, 160, 640],
    's': [16, 32, 64, 128, 256, 320, 960],
    '0.5': [16, 32, 64, 128, 192, 256],
    '0.75': [24, 48, 96, 192, 288, 384],
    '1.0': [32, 64, 128, 256, 384, 512],
}


def count(module):
    return sum(p.numel() for p in module.parameters())


def classifier_cfg(arch):
    backbone = MobileViTv3(arch=arch, init_cfg=None)
    last = len(backbone.all_channels) - 1
    return dict(
        type='ImageClassifier',
        backbone=dict(type='MobileViTv3', arch=arch, out_indices=(last,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=backbone.all_channels[-1]))


@pytest.mark.parametrize('arch', list(PARAMS))
def test_parameter_counts_match_the_authors(arch):
    from mmpretrain.registry import MODELS
    total, without_classifier, without_exp = PARAMS[arch]
    init_default_scope('mmpretrain')
    assert count(MODELS.build(classifier_cfg(arch))) == total
    assert count(MobileViTv3(arch=arch)) == without_classifier
    assert count(MobileViTv3(arch=arch, with_exp_conv=False)) == without_exp


@pytest.mark.parametrize('arch', list(CHANNELS))
@pytest.mark.parametrize('output_stride', [32, 16, 8])
def test_output_shapes_and_strides(arch, output_stride):
    indices = tuple(range(len(CHANNELS[arch])))
    model = MobileViTv3(arch=arch, out_indices=indices, output_stride=output_stride).eval()
    assert model.out_channels == CHANNELS[arch]
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 128, 192))
    strides = [2, 2, 4, 8, 16, 32, 32]
    for i, out in enumerate(outs):
        stride = min(strides[i], output_stride)
        assert out.shape == (1, CHANNELS[arch][i], 128 // stride, 192 // stride), i


def dilations(stage):
    return [m.dilation[0] for m in stage.modules() if isinstance(m, nn.Conv2d)
            and m.kernel_size == (3, 3)]


def test_dilation_follows_the_authors_v1():
    # v1-based: only the MobileNetV2 block of a de-strided stage is dilated, with the dilation
    # of before the stage; the MobileViTv3 block's depthwise conv stays at 1 (heads.md).
    os16 = MobileViTv3(arch='xxs', output_stride=16)
    assert dilations(os16.layer4) == [1, 1] and dilations(os16.layer5) == [1, 1]
    assert os16.layer5[0].depthwise_conv.conv.stride == (1, 1)
    os8 = MobileViTv3(arch='xxs', output_stride=8)
    assert dilations(os8.layer4) == [1, 1] and dilations(os8.layer5) == [2, 1]


def test_dilation_follows_the_authors_v2():
    os16 = MobileViTv3(arch='0.5', output_stride=16)
    assert dilations(os16.layer4) == [1, 1] and dilations(os16.layer5) == [1, 2]
    os8 = MobileViTv3(arch='0.5', output_stride=8)
    assert dilations(os8.layer4) == [1, 2] and dilations(os8.layer5) == [2, 4]


@pytest.mark.parametrize('arch,expected', [
    # v1-based blocks resize to a patch multiple and back: sizes follow the convolutions.
    ('xxs', [(113, 151), (57, 76), (29, 38), (15, 19), (8, 10)]),
    # v2-based blocks keep the patch-aligned size they resized to.
    ('0.5', [(113, 151), (57, 76), (30, 38), (16, 20), (8, 10)]),
])
@pytest.mark.parametrize('train', [True, False])
def test_odd_input_size(arch, expected, train):
    model = MobileViTv3(arch=arch, out_indices=(1, 2, 3, 4, 5)).train(train)
    x = torch.randn(1, 3, 225, 301)
    with torch.set_grad_enabled(train):
        outs = model(x)
    assert [tuple(o.shape[-2:]) for o in outs] == expected
    assert all(torch.isfinite(o).all() for o in outs)
    if train:
        sum(o.mean() for o in outs).backward()
        assert model.stem.conv.weight.grad is not None


def test_frozen_stages_stay_frozen():
    model = MobileViTv3(arch='xxs', out_indices=(5,), frozen_stages=2)
    model.train()
    frozen = [model.stem, model.layer1, model.layer2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert not model.layer2[0].expand_conv.bn.training
    assert model.layer3[0].expand_conv.bn.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 64, 64))[0].pow(2).mean().backward()
    optimizer.step()
    after = model.state_dict()
    for key in before:
        if key.startswith(('stem.', 'layer1.', 'layer2.')):
            assert torch.equal(before[key], after[key]), key
    assert not torch.equal(before['layer3.0.expand_conv.conv.weight'],
                           after['layer3.0.expand_conv.conv.weight'])


def test_norm_eval_keeps_batchnorm_statistics():
    model = MobileViTv3(arch='0.5', norm_eval=True).train()
    mean = model.layer5[0].expand_conv.bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(mean, model.layer5[0].expand_conv.bn.running_mean)


@pytest.mark.parametrize('scope,registry', [
    ('mmseg', 'mmseg.registry'), ('mmdet', 'mmdet.registry'), ('mmpretrain', 'mmpretrain.registry')])
def test_builds_from_every_scope(scope, registry):
    import importlib
    models = importlib.import_module(registry).MODELS
    init_default_scope(scope)
    model = models.build(dict(type='MobileViTv3', arch='xxs', out_indices=(4, 5)))
    assert isinstance(model, MobileViTv3) and model.out_channels == [80, 128]


def test_arbitrary_width_multiplier():
    model = MobileViTv3(arch=1.25, out_indices=(0, 1, 2, 3, 4, 5))
    # MobileViTv2 rules: stem clamp(32w, 16, 64) -> 40; layer widths 64w rounded to 16, rest to 8.
    assert model.out_channels == [40, 80, 160, 320, 480, 640]


@pytest.mark.parametrize('kwargs,message', [
    (dict(arch='xxxs'), "unknown MobileViTv3 arch 'xxxs'"),
    (dict(arch='xxs', out_indices=(7,)), 'out_indices (7,) out of range'),
    (dict(arch='0.5', out_indices=(6,)), 'needs a v1-based arch'),
    (dict(arch='xxs', output_stride=4), 'output_stride must be 8, 16 or 32'),
    (dict(arch='xxs', frozen_stages=6), 'frozen_stages must be in -1..5'),
])
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=None) as info:
        MobileViTv3(**kwargs)
    assert message in str(info.value)
    if 'unknown' in message:
        assert "'xxs'" in str(info.value) and "'0.5'" in str(info.value)


def test_custom_stage_table():
    table = dict(family='v1', stem=8, expand_ratio=2, exp_channels=64, stages=[
        [8, 1, 1, None, None, 0],
        [16, 2, 1, None, None, 0],
        [24, 2, 1, 32, 64, 1],
        [32, 2, 1, 32, 64, 1],
        [40, 2, 1, 48, 96, 1]])
    model = MobileViTv3(arch=table, out_indices=(3, 5, 6))
    assert model.out_channels == [24, 40, 64]
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1:] for o in outs] == [(24, 8, 8), (40, 2, 2), (64, 2, 2)]
    with pytest.raises(ValueError, match='missing keys'):
        MobileViTv3(arch=dict(family='v1', stages=[]))


def test_l2_forms_differ_from_their_base_only_in_layer4_attention():
    for name in ('xxs', 'xs', 's'):
        base, l2 = MobileViTv3.arch_zoo[name]['stages'], MobileViTv3.arch_zoo[f'{name}-l2']['stages']
        assert (base[3].attn_layers, l2[3].attn_layers) == (4, 2)
        assert l2[:3] == base[:3] and l2[4] == base[4]
        assert l2[3]._replace(attn_layers=4) == base[3]


def test_patch_tokens_round_trip_in_either_memory_format():
    from mvit3_dense.models.layers.mobilevitv3_block import map_of, tokens_of
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    tokens = tokens_of(x, 2)
    # token [b * P + p, n, c]: pixel p (row-major in the 2x2 patch) of patch n (row-major)
    assert tokens.shape == (2 * 4, 2 * 3, 3)
    assert tokens[1 * 4 + 3, 1 * 3 + 2, 1].item() == x[1, 1, 1 * 2 + 1, 2 * 2 + 1].item()
    for channels_last in (False, True):
        back = map_of(tokens, 2, 4, 6, channels_last)
        assert torch.equal(back, x)
        assert back.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert torch.equal(tokens_of(x.to(memory_format=torch.channels_last), 2), tokens)


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
def test_channels_last_maps_give_the_same_outputs(arch):
    model = MobileViTv3(arch=arch, out_indices=range(6)).eval()
    x = torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        plain = model(x)
        fast = model.to(memory_format=torch.channels_last)(x)
    for a, b in zip(fast, plain):
        assert ((a - b).abs().max() / b.abs().max()).item() <= 1e-5
    assert fast[3].is_contiguous(memory_format=torch.channels_last)


def _training_outputs_and_gradients(model, x, stages=(3, 5), through_forward=True):
    """Outputs and parameter gradients of one training forward/backward; without
    ``through_forward`` the stages run one by one, bypassing the backbone's input conversion."""
    model = copy.deepcopy(model)
    if through_forward:
        outs = model(x)
    else:
        y, outs = model.stem(x), []
        for i, name in enumerate(model.layer_names, start=1):
            y = getattr(model, name)(y)
            if i in stages:
                outs.append(y)
    sum(out.square().mean() for out in outs).backward()
    return outs, {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('arch', ['xxs', 's'])
def test_v1_training_runs_channels_last_with_float64_gradients(arch):
    torch.manual_seed(0)
    # No dropout: both runs must see the same network. 96x128 leaves a 3x4 map in the last
    # stage, which the block resizes to the patch grid.
    model = MobileViTv3(arch=arch, out_indices=(3, 5), drop_rate=0.0).train()
    x = torch.randn(2, 3, 96, 128)
    fast, grads = _training_outputs_and_gradients(model, x)
    assert all(out.is_contiguous(memory_format=torch.channels_last) for out in fast)
    exact, exact_grads = _training_outputs_and_gradients(model.double(), x.double(),
                                                         through_forward=False)
    assert not exact[0].is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(fast, exact):
        assert ((a.double() - b).abs().max() / b.abs().max()).item() <= 1e-5
    assert grads.keys() == exact_grads.keys() and len(grads) > 100
    # Relative to each gradient's size, floored for those that are zero but for rounding (a
    # batch norm cancels the bias before it).
    floor = 1e-2 * max(g.abs().max().item() for g in exact_grads.values())
    for name, g in grads.items():
        ref = exact_grads[name]
        assert (g.double() - ref).abs().max().item() <= 1e-4 * max(ref.abs().max().item(), floor)


def test_v2_training_and_every_evaluation_keep_the_input_memory_format():
    x = torch.randn(2, 3, 96, 128)
    assert MobileViTv3(arch='0.5', out_indices=(3, 5)).train()(x)[0].is_contiguous()
    with torch.no_grad():
        assert MobileViTv3(arch='xxs', out_indices=(3, 5)).eval()(x)[0].is_contiguous()
