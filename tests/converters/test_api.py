"""The converters' public entry point: request checks, the arch of dense kinds, the v2-based
DeepLabv3 with its auxiliary head, configs found under ``config_root()``, the state-dict check."""
import csv
import shutil

import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import (KINDS, SOURCES, Conversion, ConversionError, convert,
                                    convert_checkpoint_file)
from mvit3_dense.models.backbones.pretrained import compare_state_dicts
from mvit3_dense.utils import config_paths
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import load_fixture
from ..models.test_seg_pretrained import deeplabv3_xxs_reference
from .test_cvnets_ssdlite import ssdlite_xxs_reference

V2_ADE = 'deeplabv3_mobilevitv3_0.75_ade20k_state_dict.pt'


def test_unknown_kind_is_refused_before_reading(tmp_path):
    absent = tmp_path / 'absent.pt'  # never opened: the request is checked first
    with pytest.raises(ConversionError, match="unknown kind 'segmenter': choose one of backbone, "
                       'classifier, segmentor, detector'):
        convert(absent, kind='segmenter')
    assert KINDS == ('backbone', 'classifier', 'segmentor', 'detector')
    with pytest.raises(ConversionError, match="unknown source format 'keras': choose one of "
                       'cvnets, timm, hf'):
        convert(absent, kind='backbone', source='keras')
    with pytest.raises(ConversionError, match='timm .* has no detector checkpoints: choose a '
                       'kind of backbone, classifier'):
        convert(absent, kind='detector', source='timm')
    with pytest.raises(ConversionError, match="a config applies to the kinds segmentor, detector "
                       "only, not to 'classifier'"):
        convert(absent, kind='classifier', config='any.py')
    assert set(SOURCES['cvnets'].mappers) == set(KINDS)
    assert set(SOURCES['timm'].mappers) == set(SOURCES['hf'].mappers) == {'backbone',
                                                                          'classifier'}


@pytest.mark.parametrize('kind', ['backbone', 'segmentor'])
def test_unknown_arch_is_refused(tmp_path, kind):
    with pytest.raises(ConversionError, match="unknown arch 'xxxl': choose one of xxs, xs, s"):
        convert(tmp_path / 'absent.pt', kind=kind, arch='xxxl')
    with pytest.raises(ConversionError, match="unknown arch '-1'"):
        convert(tmp_path / 'absent.pt', kind=kind, arch='-1')


def test_segmentor_arch_is_checked_and_picks_the_config(tmp_path):
    weights, _ = deeplabv3_xxs_reference('io')
    for wrong in ('xs', '0.5'):
        with pytest.raises(ConversionError,
                           match=f"holds MobileViTv3-xxs but arch '{wrong}' was requested"):
            convert_checkpoint_file(weights, tmp_path / 'out.pth', kind='segmentor', arch=wrong,
                                    progress=False)
    assert list(tmp_path.iterdir()) == []
    result = convert(weights, kind='segmentor', arch='XXS')
    assert isinstance(result, Conversion)
    assert (result.kind, result.arch, result.family, result.num_classes) == (
        'segmentor', 'xxs', 'v1', 21)
    assert result.config.endswith('deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py')
    source = torch.load(weights, map_location='cpu', weights_only=True)
    assert result.renamed == len(source) == len(result.state_dict)


def test_detector_arch_is_checked():
    weights, _ = ssdlite_xxs_reference('io')
    with pytest.raises(ConversionError, match="holds MobileViTv3-xxs but arch '0.75' was"):
        convert(weights, kind='detector', arch='0.75')
    result = convert(weights, kind='detector', arch='xxs')
    assert (result.kind, result.arch, result.num_classes, result.initialised) == (
        'detector', 'xxs', 81, ())
    assert result.config.endswith('ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py')


@pytest.fixture(scope='module')
def v2_deeplab(reference_dir, tmp_path_factory):
    """The authors' v2-based DeepLabv3-0.75 (ADE20K, with its auxiliary head), converted, and
    loaded strictly into the model of the config the converter picked."""
    src = reference_dir / 'fixtures' / V2_ADE
    dst = tmp_path_factory.mktemp('v2seg') / 'deeplabv3_0.75_ade.pth'
    result = convert_checkpoint_file(src, dst, kind='segmentor', arch='0.75', progress=False)
    model, _ = build_model_from_config(result.config)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    return result, model.eval(), load_fixture(reference_dir, V2_ADE)


def test_v2_deeplabv3_with_auxiliary_head_loads_completely(v2_deeplab, reference_dir):
    result, model, source = v2_deeplab
    assert (result.arch, result.family, result.num_classes, result.meta['dataset']) == (
        '0.75', 'v2', 150, 'ade20k')
    assert result.config.endswith('deeplabv3_mobilevitv3-0.75_4xb4-120e_ade20k-512x512.py')
    # Every tensor comes from the source (313, the aux head's 8 included); none initialised.
    assert result.meta['with_aux'] is True and result.initialised == ()
    assert result.renamed == len(source) == 313
    diff = compare_state_dicts(model.state_dict(), result.state_dict)
    assert diff.ok, diff.describe()
    # The auxiliary head's parameters number what the authors' table gives for this model.
    with open(reference_dir / 'segmentation.tsv', newline='') as f:
        row = next(r for r in csv.DictReader(f, delimiter='\t')
                   if r['model'] == 'DeepLabv3-MobileViTv3-0.75' and r['dataset'] == 'ADE20K')
    aux_params = sum(p.numel() for p in model.auxiliary_head.parameters())
    assert aux_params == int(row['params_aux_head']) == 351382


def test_v2_auxiliary_head_weights_land_on_the_right_tensors(v2_deeplab):
    _, model, source = v2_deeplab
    aux = model.auxiliary_head
    conv, bn = aux.convs[0].conv, aux.convs[0].bn
    theirs = 'seg_head.aux_head.0.block.'
    pairs = [(conv.weight, theirs + 'conv.weight'), (bn.weight, theirs + 'norm.weight'),
             (bn.bias, theirs + 'norm.bias'), (bn.running_mean, theirs + 'norm.running_mean'),
             (bn.running_var, theirs + 'norm.running_var'),
             (aux.conv_seg.weight, 'seg_head.aux_head.2.block.conv.weight'),
             (aux.conv_seg.bias, 'seg_head.aux_head.2.block.conv.bias')]
    for ours, key in pairs:
        assert torch.equal(ours, source[key]), key
    # The head runs on layer4 (288 channels at width 0.75) as the authors' conv, BN, ReLU, 1x1.
    x = torch.randn(1, 3, 128, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats = model.extract_feat(x)
        ours = aux(feats)
        layer4 = feats[aux.in_index]
        hidden = F.conv2d(layer4, source[theirs + 'conv.weight'], padding=1)
        hidden = F.batch_norm(hidden, source[theirs + 'norm.running_mean'],
                              source[theirs + 'norm.running_var'], source[theirs + 'norm.weight'],
                              source[theirs + 'norm.bias'], eps=bn.eps)
        expected = F.conv2d(F.relu(hidden), source['seg_head.aux_head.2.block.conv.weight'],
                            source['seg_head.aux_head.2.block.conv.bias'])
    assert layer4.shape[1] == 288 and ours.shape == (1, 150, 16, 12)
    assert (ours - expected).abs().max().item() <= 1e-4 * expected.abs().max().item()


def test_configs_are_found_under_config_root(tmp_path, monkeypatch):
    """As installed: the package's own .mim/configs, never the source tree's configs/."""
    package = tmp_path / 'site-packages' / 'mvit3_dense'
    shutil.copytree(config_paths.config_root(), package / '.mim' / 'configs')
    monkeypatch.setattr(config_paths, '_PACKAGE', package)
    assert config_paths.config_root() == package / '.mim' / 'configs'
    weights, _ = deeplabv3_xxs_reference('io')
    result = convert(weights, kind='segmentor')
    assert result.config == str(package / '.mim' / 'configs' / 'deeplabv3' /
                                'deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py')
    # Without that config in the installed folder, the source tree's copy is not used instead.
    (package / '.mim' / 'configs' / 'deeplabv3' /
     'deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py').unlink()
    with pytest.raises(ConversionError, match='expected one config matching .*site-packages.*'
                       'found 0: pass --config'):
        convert(weights, kind='segmentor')


def test_state_dict_comparison_names_each_difference():
    expected = {'a': torch.zeros(2, 3), 'b': torch.zeros(4), 'c': torch.zeros(1), 'd': (5, )}
    found = {'a': torch.zeros(3, 2), 'b': (4, ), 'x': torch.zeros(1), 'skip.w': torch.zeros(1)}
    diff = compare_state_dicts(expected, found, ignore_unexpected=('skip.', ))
    assert not diff.ok
    assert (diff.missing, diff.unexpected, diff.mismatched) == (('c', 'd'), ('x', ),
                                                                (('a', (2, 3), (3, 2)), ))
    assert diff.describe() == ('2 tensors missing (e.g. c); 1 unexpected tensors (e.g. x); '
                               '1 shape mismatches (e.g. a: expected (2, 3), found (3, 2))')
    assert compare_state_dicts(expected, {**expected, 'skip.w': (1, )},
                               ignore_unexpected=('skip.', )).ok
