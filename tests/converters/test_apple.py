"""Apple's MobileViTv1 / MobileViTv2 ml-cvnets checkpoints through the converter (network and
variant detected from the tensors) reproduce Apple's fixture outputs: classifiers (every stage
and the logits), DeepLabv3-MobileViTv1-XXS (VOC) logits and SSDLite-MobileViTv2-0.5 (COCO) raw
outputs. Fixtures: reference folder ``apple/`` (sibling of the MobileViTv3 references)."""
from pathlib import Path

import pytest
import torch
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import ConversionError, convert, convert_checkpoint_file
from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import (missing_reference, reference_root,
                        regenerate_apple_input, relative_difference)
from .test_cvnets_ssdlite import flatten_outputs

TOLERANCE = 1e-4  # relative to each tensor's largest magnitude
STAGES = ['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
CLASSIFIERS = {'mobilevit_xxs': ('mobilevitv1-xxs', 'mobilevitv1'),
               'mobilevitv2_0.5': ('mobilevitv2-0.5', 'mobilevitv2')}


@pytest.fixture(scope='module')
def apple_dir():
    root = reference_root().parent / 'apple'
    if not (root / 'fixtures').is_dir():
        missing_reference(f"Apple's MobileViTv1/v2 fixtures not found at {root}; set "
                          'MVIT3_REFERENCE to a folder whose sibling apple/ holds fixtures/')
    return root / 'fixtures'


def load(folder, name):
    return torch.load(folder / name, map_location='cpu', weights_only=True)


@pytest.mark.parametrize('size', ['', '_320x256'])
@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_classifier_reproduces_apples_outputs(apple_dir, tmp_path, name, size):
    from mmpretrain.registry import MODELS
    from mmengine.registry import init_default_scope
    dst = tmp_path / 'classifier.pth'
    result = convert_checkpoint_file(apple_dir / f'{name}_state_dict.pt', dst, kind='classifier',
                                     progress=False)
    assert (result.arch, result.network, result.num_classes) == (*CLASSIFIERS[name], 1000)
    init_default_scope('mmpretrain')
    channels = MobileViTv3(arch=result.arch, init_cfg=None).all_channels
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='MobileViTv3', arch=result.arch,
                      out_indices=tuple(range(len(channels)))),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=channels[-1])))
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    io = load(apple_dir, f'{name}_io{size}.pt')
    with torch.no_grad():
        feats = model.eval().backbone(regenerate_apple_input(io))
        logits = model.head.fc(model.neck(feats[-1:])[0])
    ours = dict(zip(STAGES, feats), logits=logits)
    # MobileViTv2's conv_1x1_exp is an Identity: Apple's entry repeats layer_5.
    ours['conv_1x1_exp'] = feats[6] if len(feats) == 7 else feats[5]
    compared = [key for key in STAGES + ['conv_1x1_exp', 'logits'] if key in io]
    assert len(compared) == (5 if size else 8)
    differences = {key: relative_difference(ours[key], io[key]) for key in compared}
    print(name, size or '_256x256', {k: f'{v:.1e}' for k, v in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


@pytest.mark.parametrize('size', ['', '_nonsquare'])
def test_deeplabv3_v1_reproduces_apples_logits(apple_dir, tmp_path, size):
    dst = tmp_path / 'deeplabv3.pth'
    result = convert_checkpoint_file(apple_dir / 'deeplabv3_mobilevit_xxs_voc_state_dict.pt',
                                     dst, kind='segmentor', progress=False)
    assert (result.arch, result.network, result.num_classes, result.meta['dataset']) == (
        'mobilevitv1-xxs', 'mobilevitv1', 21, 'voc12aug')
    assert result.config.endswith('deeplabv3_mobilevitv1-xxs_4xb32-50e_voc12aug-512x512.py')
    model, _ = build_model_from_config(result.config)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    io = load(apple_dir, f'deeplabv3_mobilevit_xxs_voc_io{size}.pt')
    x = regenerate_apple_input(io)
    metas = [dict(img_shape=x.shape[2:], ori_shape=x.shape[2:], pad_shape=x.shape[2:])]
    with torch.no_grad():
        logits = model.eval().encode_decode(x, metas)
    assert logits.shape == io['logits'].shape
    difference = relative_difference(logits, io['logits'])
    print('deeplabv3_mobilevit_xxs_voc', size or '_256x256', f'logits {difference:.1e}')
    assert difference <= TOLERANCE


@pytest.mark.parametrize('size', ['', '_256x320'])
def test_ssdlite_v2_reproduces_apples_raw_outputs(apple_dir, tmp_path, size):
    dst = tmp_path / 'ssdlite.pth'
    result = convert_checkpoint_file(apple_dir / 'ssdlite_mobilevitv2_0.5_coco_state_dict.pt',
                                     dst, kind='detector', progress=False)
    assert (result.arch, result.network, result.num_classes) == ('mobilevitv2-0.5',
                                                                  'mobilevitv2', 81)
    assert result.config.endswith('ssdlite_mobilevitv2-0.5_4xb32-200e_coco-320x320.py')
    model, _ = build_model_from_config(result.config)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    io = load(apple_dir, f'ssdlite_mobilevitv2_0.5_coco_io{size}.pt')
    with torch.no_grad():
        scores, boxes = flatten_outputs(*model.eval().bbox_head(
            model.extract_feat(regenerate_apple_input(io))))
    differences = dict(scores_raw=relative_difference(scores, io['scores_raw'][0]),
                       boxes_raw=relative_difference(boxes, io['boxes_raw'][0]))
    print('ssdlite_mobilevitv2_0.5_coco', size or '_320x320',
          {k: f'{v:.1e}' for k, v in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


def test_a_block_of_no_known_network_is_refused(apple_dir):
    # MobileViTv1's full 3x3 local conv with MobileViTv3's 1x1 fusion: neither network.
    state = load(apple_dir, 'mobilevit_xxs_state_dict.pt')
    fusion = 'layer_3.1.fusion.block.conv.weight'
    state[fusion] = state[fusion][:, :, 1:2, 1:2].contiguous()
    with pytest.raises(ConversionError, match=r'the MobileViT block layer_3\.1 belongs to no '
                       r'known network: local 3x3 conv full, fusion 1x1 over 96 channels'):
        convert(state, kind='classifier')
    # A MobileViTv2 block with a fusion conv added.
    state = load(apple_dir, 'mobilevitv2_0.5_state_dict.pt')
    state['layer_4.1.fusion.block.conv.weight'] = torch.zeros(192, 192, 1, 1)
    with pytest.raises(ConversionError, match=r'layer_4\.1 belongs to no known network'):
        convert(state, kind='backbone')


def test_an_arch_of_another_network_is_refused(apple_dir):
    state = load(apple_dir, 'mobilevit_xxs_state_dict.pt')
    with pytest.raises(ConversionError, match="holds MobileViTv1-xxs but arch 'xxs' was "
                       'requested: pass --arch mobilevitv1-xxs'):
        convert(state, kind='backbone', arch='xxs')


SHIPPED_APPLE = Path(__file__).resolve().parents[1] / 'data' / 'apple' / 'fixtures'


@pytest.mark.parametrize('name', list(CLASSIFIERS))
def test_shipped_classifier_subset_reproduces_apples_logits(tmp_path, name):
    """Runs on a plain clone: the shipped copy of Apple's weights, converted, gives Apple's logits
    at 320x256 (tests/data/apple/make_subset.py; equal to the full references when present)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    dst = tmp_path / 'classifier.pth'
    result = convert_checkpoint_file(SHIPPED_APPLE / f'{name}_state_dict.pt', dst,
                                     kind='classifier', progress=False)
    assert (result.arch, result.network) == CLASSIFIERS[name]
    init_default_scope('mmpretrain')
    channels = MobileViTv3(arch=result.arch, init_cfg=None).all_channels
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='MobileViTv3', arch=result.arch, out_indices=(len(channels) - 1, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=channels[-1])))
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    io = load(SHIPPED_APPLE, f'{name}_io_320x256.pt')
    full = reference_root().parent / 'apple' / 'fixtures' / f'{name}_io_320x256.pt'
    if full.is_file():
        assert torch.equal(io['logits'], load(full.parent, full.name)['logits'])
    with torch.no_grad():
        logits = model.eval()(regenerate_apple_input(io), mode='tensor')
    assert logits.shape == (2, 1000)
    assert relative_difference(logits, io['logits']) <= TOLERANCE
