"""The inference form (``prepare_for_inference``): the same outputs, no batch norm left, fewer
parameters; the backbones trace into one graph for ``torch.compile``."""
import copy

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.deploy import count_batch_norms, fuse_conv_bn, prepare_for_inference
from mvit3_dense.utils.export import DetectorRawOutputs
from mvit3_dense.utils.tensor_mode import TensorMode
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT, regenerate_apple_input, relative_difference
from ..models.test_family_fixtures import CASES, build, load

TOLERANCE = 1e-5  # relative to each output's largest magnitude
ARCHS = ['xxs', '0.5', 'mobilevitv1-xxs', 'mobilevitv2-0.5']
CONFIGS = {
    'deeplabv3-xxs': 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py',
    'deeplabv3-0.5': 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py',
    'ssdlite-xxs': 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py',
    'ssdlite-0.5': 'configs/ssdlite/ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320x320.py',
}


def randomize_norms(model, seed=0):
    """Statistics and affine parameters far from the identity, so that folding shows."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, _BatchNorm) and m.running_mean is not None:
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
            m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=gen) - 0.5)
    return model


def worst_difference(fused, plain, x):
    with torch.no_grad():
        ours, reference = fused(x), plain(x)
    ours = ours if isinstance(ours, (tuple, list)) else (ours, )
    reference = reference if isinstance(reference, (tuple, list)) else (reference, )
    assert len(ours) == len(reference)
    return max(relative_difference(a, b) for a, b in zip(ours, reference))


def count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize('arch', ARCHS)
def test_folded_backbone_matches_and_has_no_batch_norm(arch):
    plain = MobileViTv3(arch=arch, out_indices=range(6))
    plain.init_weights()
    randomize_norms(plain).eval()
    norms = count_batch_norms(plain)
    # Every BN of the network sits in a ConvModule: one per ConvModule.
    assert norms == sum(isinstance(m, ConvModule) for m in plain.modules()) > 20
    fused = prepare_for_inference(copy.deepcopy(plain))
    assert count_batch_norms(fused) == 0
    # Each folded norm drops its weight and bias (2C) and gives the conv a bias (C).
    folded = sum(m.num_features for m in plain.modules() if isinstance(m, _BatchNorm))
    assert count(fused) == count(plain) - folded
    # An odd size takes the blocks' resizing paths too.
    for shape in ((2, 3, 128, 96), (1, 3, 100, 140)):
        assert worst_difference(fused, plain, torch.randn(shape)) <= TOLERANCE


@pytest.mark.parametrize('name', list(CASES))
def test_folded_mobilevit_v1_v2_reproduce_apples_fixture(name):
    """Apple's trained-form fixture, through the folded network, channels-last."""
    backbone, _ = build(name)
    io = load(f'{name}_io.pt')
    x = regenerate_apple_input(io)
    fused = prepare_for_inference(backbone)
    assert count_batch_norms(fused) == 0
    with torch.no_grad():
        outs = fused(x)
    assert outs[3].is_contiguous(memory_format=torch.channels_last)
    for key, out in zip(['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5'], outs):
        # the fixture tests' own bound: the unfolded model is within 1e-4 of Apple's
        assert relative_difference(out, io[key]) <= 1e-4, key


@pytest.mark.parametrize('name', list(CONFIGS))
def test_folded_dense_models_match(name):
    model, _ = build_model_from_config(str(REPO_ROOT / CONFIGS[name]))
    model.init_weights()
    randomize_norms(model).eval()
    wrap = TensorMode if name.startswith('deeplabv3') else DetectorRawOutputs
    plain = wrap(model)
    fused = wrap(prepare_for_inference(copy.deepcopy(model)))
    assert count_batch_norms(model) > 0 and count_batch_norms(fused) == 0
    assert count(fused) < count(plain)
    x = torch.randn(2, 3, 256, 256)
    assert worst_difference(fused, plain, x) <= TOLERANCE


def test_only_norms_that_follow_their_conv_are_folded():
    conv_first = ConvModule(3, 4, 3, norm_cfg=dict(type='BN'))
    norm_first = ConvModule(4, 4, 3, norm_cfg=dict(type='BN'), order=('norm', 'conv', 'act'))
    no_stats = nn.BatchNorm2d(4, track_running_stats=False)

    class Tree(nn.Module):
        """Registers a norm right after a conv that its forward does not feed it."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.norm = nn.BatchNorm2d(4)
            self.seq = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                     nn.Conv2d(4, 4, 1), no_stats)

        def forward(self, x):
            return self.conv(self.seq(self.norm(x)))

    model = nn.Sequential(conv_first, norm_first, Tree())
    randomize_norms(model).eval()
    reference = copy.deepcopy(model)
    fuse_conv_bn(model)
    # folded: the first ConvModule's norm and the Sequential's conv+BN pair
    assert [type(m).__name__ for m in (model[0].norm, model[2].seq[1])] == ['Identity'] * 2
    # left: a norm before its conv, a norm that is not fed by the conv registered before it,
    # a norm without running statistics
    assert model[1].norm is not None and isinstance(model[1].norm, _BatchNorm)
    assert isinstance(model[2].norm, _BatchNorm) and model[2].seq[4] is no_stats
    assert count_batch_norms(model) == 3
    x = torch.randn(2, 3, 8, 8)
    assert worst_difference(model, reference, x) <= TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_backbone_traces_without_graph_breaks(arch):
    model = prepare_for_inference(MobileViTv3(arch=arch, out_indices=range(6)))
    torch._dynamo.reset()
    # An odd size, so that the resizing branches are traced too.
    explanation = torch._dynamo.explain(model)(torch.randn(1, 3, 96, 160))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_compile_option_compiles_the_inference_form():
    model = MobileViTv3(arch='xxs')
    compiled = prepare_for_inference(model, compile=dict(backend='eager'))
    assert compiled._orig_mod is model and count_batch_norms(model) == 0
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(compiled(x)[0], model(x)[0])
