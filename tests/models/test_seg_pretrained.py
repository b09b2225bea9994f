"""The segmentation models against the authors' code: converted weights load, outputs agree.

The DeepLabv3-XXS comparisons run on a plain clone from tests/data/authors/seg/ (the weights and a
reduced copy of the fixture outputs) and on the full fixtures when the reference folder is present.
"""

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from mvit3_dense.converters import convert

from ..conftest import REPO_ROOT, SHIPPED_REFERENCE, reference_root, run_tool

V1_CONFIG = REPO_ROOT / 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
XXS_WEIGHTS = 'deeplabv3_mobilevitv3_xxs_voc_state_dict.pt'
XXS_IO = ('io', 'io_nonsquare')  # 1x3x256x256 and 1x3x160x224


def deeplabv3_xxs_reference(name):
    """The authors' DeepLabv3-XXS VOC weights and fixture ``name`` (``'io'``, ``'io_nonsquare'``).

    Returns ``(weights_path, io)``, io holding ``x``, ``backbone_l5``, ``aspp_out``, ``logits``
    (every ``step``-th row and column of the authors' logits) and ``logits_absmax`` (of all of
    them). From the reference folder's fixtures when present (``step`` 1), else from the shipped
    subset: the input regenerated from its seed, every 7th logit.
    """
    fixtures = reference_root() / 'fixtures'
    full = fixtures / f'deeplabv3_mobilevitv3_xxs_voc_{name}.pt'
    if full.is_file():
        io = torch.load(full, map_location='cpu', weights_only=True)
        return fixtures / XXS_WEIGHTS, dict(io, step=1, logits_absmax=io['logits'].abs().max())
    shipped = SHIPPED_REFERENCE / 'seg'
    io = torch.load(shipped / 'deeplabv3_mobilevitv3_xxs_voc_io_reduced.pt', map_location='cpu',
                    weights_only=True)[name]
    x = torch.randn(*io['input_shape'].tolist(), generator=torch.Generator().manual_seed(1))
    return shipped / XXS_WEIGHTS, dict(x=x, backbone_l5=io['backbone_l5'], aspp_out=io['aspp_out'],
                                       logits=io['logits_sub'], step=int(io['logit_step']),
                                       logits_absmax=io['logits_absmax'])


def relative_error(ours, theirs, scale=None):
    """max |ours - theirs| relative to the reference's magnitude (the fixture's randomised BN
    makes the outputs large)."""
    scale = theirs.abs().max() if scale is None else scale
    return ((ours - theirs).abs().max() / scale).item()

# The authors' DeepLabv3 head modules (cvnets seg_head) -> MobileViTv3ASPPHead modules.
HEAD_KEYS = {
    'seg_head.aspp.aspp_layer.convs.0.block.': 'decode_head.aspp_modules.0.',
    'seg_head.aspp.aspp_layer.convs.1.block.': 'decode_head.aspp_modules.1.',
    'seg_head.aspp.aspp_layer.convs.2.block.': 'decode_head.aspp_modules.2.',
    'seg_head.aspp.aspp_layer.convs.3.block.': 'decode_head.aspp_modules.3.',
    'seg_head.aspp.aspp_layer.convs.4.aspp_pool.conv_1x1.block.': 'decode_head.image_pool.1.',
    'seg_head.aspp.aspp_layer.project.block.': 'decode_head.bottleneck.',
    'seg_head.classifier.classifier.block.': 'decode_head.conv_seg.',
}


def build_v1(checkpoint=None):
    cfg = Config.fromfile(V1_CONFIG)
    init_default_scope('mmseg')
    if checkpoint is None:
        cfg.model.backbone.init_cfg = None
    else:
        cfg.model.backbone.init_cfg.checkpoint = str(checkpoint)
    return revert_sync_batchnorm(MODELS.build(cfg.model))


def test_backbone_initialises_from_a_converted_checkpoint(reference_dir, tmp_path):
    dst = tmp_path / 'mobilevitv3-xxs_backbone.pth'
    proc = run_tool('tools/model_converters/cvnets2mmdense.py',
                    reference_dir / 'fixtures/mobilevitv3_xxs_state_dict.pt', dst,
                    '--kind', 'backbone', '--quiet')
    assert proc.returncode == 0, proc.stderr[-2000:]
    converted = torch.load(dst, map_location='cpu', weights_only=True)['state_dict']
    model = build_v1(dst)
    fresh = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.init_weights()
    loaded = model.backbone.state_dict()
    # Every backbone tensor comes from the file (the file's conv_1x1_exp is not used: the
    # segmentation backbone has none).
    assert set(loaded) == set(converted) - {k for k in converted if k.startswith('conv_1x1_exp.')}
    for key, value in loaded.items():
        assert torch.equal(value, converted[key]), key
    assert not torch.equal(fresh['stem.conv.weight'], loaded['stem.conv.weight'])


def _authors_model_as_ours(weights):
    state = torch.load(weights, map_location='cpu', weights_only=True)
    encoder = {k[len('encoder.'):]: v for k, v in state.items() if k.startswith('encoder.')}
    backbone = convert(encoder, kind='backbone', arch='xxs').state_dict
    ours = {'backbone.' + k: v for k, v in backbone.items()}
    for key, value in state.items():
        prefix = next((p for p in HEAD_KEYS if key.startswith(p)), None)
        if prefix is not None:
            rest = key[len(prefix):].replace('conv.', '', 1) if 'classifier' in prefix else \
                key[len(prefix):].replace('norm.', 'bn.')
            ours[HEAD_KEYS[prefix] + rest] = value
    model = build_v1()
    model.load_state_dict(ours, strict=True)
    return model.eval()


@pytest.mark.parametrize('name', XXS_IO)
def test_outputs_match_the_authors_deeplabv3_xxs(name):
    weights, io = deeplabv3_xxs_reference(name)
    model = _authors_model_as_ours(weights)
    x = io['x']
    with torch.no_grad():
        feats = model.extract_feat(x)
        aspp_out = model.decode_head._forward_feature(feats)
        logits = model.encode_decode(x, [dict(img_shape=tuple(x.shape[2:]))])
    step = io['step']
    assert logits.shape[2:] == x.shape[2:]
    assert relative_error(feats[0], io['backbone_l5']) <= 1e-4
    assert aspp_out.shape == io['aspp_out'].shape
    assert relative_error(aspp_out, io['aspp_out']) <= 1e-4
    sampled = logits[..., ::step, ::step]
    assert sampled.shape == io['logits'].shape
    assert relative_error(sampled, io['logits'], io['logits_absmax']) <= 1e-4
