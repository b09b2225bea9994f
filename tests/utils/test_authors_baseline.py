"""Loading the authors' models from a checkout of their code.

Most tests build a small stand-in checkout in ``tmp_path``: packages ``options`` and ``cvnets``
exposing ``get_training_arguments`` / ``load_config_file`` / ``get_model`` the way the authors'
ones are called, whose model records the options it was built with. The test against the real
code needs a checkout made by ``tools/analysis_tools/prepare_authors_code.sh``, named by the
environment variable MVIT3_AUTHORS_CODE; it is skipped when that variable is unset.
"""
import collections
import collections.abc
import os
import os.path as osp
import sys
import textwrap

import pytest
import torch
import torch.nn as nn

from mvit3_dense.utils import authors_baseline
from mvit3_dense.utils.authors_baseline import (AuthorsBackbone, AuthorsNetwork, authors_spec,
                                                count_parameters, family_of,
                                                load_authors_model)
from ..conftest import run_tool

OPTS = '''
import argparse


def get_training_arguments(parse_args=True):
    parser = argparse.ArgumentParser()
    parser.add_argument('--common.config-file', type=str, default=None)
    return parser
'''
OPTIONS_UTILS = '''
def load_config_file(opts):
    # one "key: value" per line, as the real loader flattens its yaml into dotted attributes
    with open(getattr(opts, 'common.config_file')) as f:
        for line in f:
            key, value = line.split(':')
            setattr(opts, key.strip(), value.strip())
    return opts
'''
CVNETS = '''
import sys

import torch.nn as nn

built = []


def get_model(opts):
    built.append(opts)
    if getattr(opts, 'model.classification.mit.mode', None) == 'broken':
        print('ERROR - unknown mode, exiting')
        sys.exit(-1)
    width = int(getattr(opts, 'width', 4))
    model = nn.Module()
    model.conv_1 = nn.Conv2d(3, width, 3, 2, 1)
    for i in range(1, 6):
        setattr(model, f'layer_{i}', nn.Conv2d(width, width, 3, 2 if i > 1 else 1, 1))
    model.conv_1x1_exp = nn.Conv2d(width, 2 * width, 1)
    model.classifier = nn.Linear(2 * width, 10)
    return model
'''


def make_checkout(root, family, config, cvnets=CVNETS):
    tree = root / family
    for path, text in {'options/__init__.py': '', 'options/opts.py': OPTS,
                       'options/utils.py': OPTIONS_UTILS, 'cvnets/__init__.py': cvnets,
                       config: 'width: 4\ndataset.name: imagenet\n'}.items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text(textwrap.dedent(text))
    return tree


@pytest.fixture
def fresh_process(monkeypatch):
    """Undo what loading a tree does to the process: its modules, sys.path, the loaded tree."""
    modules, path = dict(sys.modules), list(sys.path)
    monkeypatch.setattr(authors_baseline, '_loaded_root', None)
    yield
    for name in set(sys.modules) - set(modules):
        del sys.modules[name]
    sys.modules.update(modules)
    sys.path[:] = path


def test_every_variant_maps_to_the_authors_yaml_and_size():
    v1 = {'s': ('small', 'small_v3'), 'xs': ('x_small', 'x_small_v3'),
          'xxs': ('xx_small', 'xx_small_v3'), 's-l2': ('small', 'small_v3_fast'),
          'xs-l2': ('x_small', 'x_small_v3_fast'), 'xxs-l2': ('xx_small', 'xx_small_v3_fast')}
    for arch, (size, mode) in v1.items():
        spec = authors_spec(arch)
        assert (spec.family, spec.config) == (
            'v1', f'config/classification/mobilevitv3_{size}_oneserver.yaml')
        assert spec.overrides == {'model.classification.pretrained': None,
                                  'model.normalization.name': 'batch_norm',
                                  'model.classification.mit.mode': mode}
    for arch, width in {'0.5': 0.5, '0.75': 0.75, '1.0': 1.0}.items():
        spec = authors_spec(arch)
        assert (spec.family, spec.config) == (
            'v2', 'config/classification/imagenet/mobilevit_v3_oneserver.py')
        assert spec.overrides['model.classification.mitv3.width_multiplier'] == width
    seg = authors_spec('xs', 'segmentation', 21)
    assert seg.config == 'config/segmentation/deeplabv3_mobilevitv3_x_small.yaml'
    assert seg.overrides['model.segmentation.n_classes'] == 21
    ade = authors_spec('0.75', 'segmentation', 150)
    assert ade.config == 'config/segmentation/ade20k/deeplabv3_mobilevitv3.yaml'
    assert ade.overrides['model.segmentation.n_classes'] == 150
    assert authors_spec('1.0', 'segmentation', 21).config == (
        'config/segmentation/pascal_voc/deeplabv3_mobilevitv3.yaml')
    det = authors_spec('s', 'detection', 80)
    assert det.config == 'config/detection/ssd_mobilevitv3_small_320.yaml'
    assert det.overrides['model.detection.n_classes'] == 81  # the authors count the background
    assert authors_spec('0.5', 'detection', 80).config == (
        'config/detection/ssd_coco/mobilevit_v3.yaml')
    assert [family_of(a) for a in ('xxs-l2', '0.75')] == ['v1', 'v2']


def test_variants_the_authors_do_not_have_are_refused():
    with pytest.raises(ValueError, match='no authors\' model for arch \'xxxs\''):
        authors_spec('xxxs')
    with pytest.raises(ValueError, match='classifiers only'):
        authors_spec('xs-l2', 'segmentation', 21)
    with pytest.raises(ValueError, match='PASCAL VOC model'):
        authors_spec('xxs', 'segmentation', 150)
    with pytest.raises(ValueError, match='not 19 classes'):
        authors_spec('0.5', 'segmentation', 19)
    with pytest.raises(ValueError, match='task must be one of'):
        authors_spec('xxs', 'instance')


def test_loader_builds_with_the_authors_calls_and_overrides(tmp_path, fresh_process):
    spec = authors_spec('xxs-l2')
    tree = make_checkout(tmp_path, 'v1', spec.config)
    model = load_authors_model(str(tmp_path), spec)
    opts = sys.modules['cvnets'].built[-1]
    assert sys.modules['cvnets'].__file__ == str(tree / 'cvnets' / '__init__.py')
    # the yaml was read by their loader (absolute path), then the overrides were set over it
    assert getattr(opts, 'common.config_file') == str(tree / spec.config)
    assert getattr(opts, 'dataset.name') == 'imagenet'
    assert getattr(opts, 'model.classification.mit.mode') == 'xx_small_v3_fast'
    assert getattr(opts, 'model.classification.pretrained') is None
    assert not model.training
    assert collections.MutableMapping is collections.abc.MutableMapping  # the v1 yaml shim
    # a second model of the same tree (the same yaml, without the L2 mode) in the same process
    load_authors_model(str(tmp_path), authors_spec('xxs'))
    built = sys.modules['cvnets'].built
    assert [getattr(o, 'model.classification.mit.mode') for o in built] == [
        'xx_small_v3_fast', 'xx_small_v3']


def test_one_family_per_process(tmp_path, fresh_process):
    make_checkout(tmp_path, 'v1', authors_spec('xxs').config)
    make_checkout(tmp_path, 'v2', authors_spec('0.5').config)
    load_authors_model(str(tmp_path), authors_spec('xxs'))
    with pytest.raises(RuntimeError, match='load it in a process of its own'):
        load_authors_model(str(tmp_path), authors_spec('0.5'))


def test_a_module_of_a_tree_package_name_already_imported_is_refused(tmp_path, fresh_process,
                                                                     monkeypatch):
    make_checkout(tmp_path, 'v1', authors_spec('xxs').config)
    stray = tmp_path / 'elsewhere' / 'utils.py'
    stray.parent.mkdir()
    stray.write_text('')
    monkeypatch.syspath_prepend(str(stray.parent))
    import utils  # noqa: F401
    with pytest.raises(RuntimeError, match='a module named \'utils\' is already imported'):
        load_authors_model(str(tmp_path), authors_spec('xxs'))


def test_missing_checkout_and_missing_yaml_name_the_fix(tmp_path, fresh_process):
    with pytest.raises(FileNotFoundError, match='prepare_authors_code.sh'):
        load_authors_model(str(tmp_path), authors_spec('xxs'))
    make_checkout(tmp_path, 'v2', 'config/other.yaml')
    with pytest.raises(FileNotFoundError, match='mobilevit_v3_oneserver.py is missing'):
        load_authors_model(str(tmp_path), authors_spec('1.0'))


def test_the_authors_code_exiting_becomes_one_error_with_what_it_printed(tmp_path,
                                                                         fresh_process):
    spec = authors_spec('xs')
    make_checkout(tmp_path, 'v1', spec.config)
    spec.overrides['model.classification.mit.mode'] = 'broken'
    with pytest.raises(RuntimeError, match='(?s)could not build.*unknown mode, exiting'):
        load_authors_model(str(tmp_path), spec)


def test_backbone_holds_and_runs_only_the_encoder_stages(tmp_path, fresh_process):
    spec = authors_spec('xxs')
    make_checkout(tmp_path, 'v1', spec.config)
    model = load_authors_model(str(tmp_path), spec)
    conv = 3 * 4 * 9 + 4
    stage = 4 * 4 * 9 + 4
    assert count_parameters(AuthorsBackbone(model)) == conv + 5 * stage
    with_exp = AuthorsBackbone(model, with_conv_1x1_exp=True)
    assert count_parameters(with_exp) == conv + 5 * stage + 4 * 8 + 8
    outs = with_exp(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 4, 32, 32), (1, 4, 16, 16), (1, 4, 8, 8),
                                              (1, 4, 4, 4), (1, 4, 2, 2), (1, 8, 2, 2)]
    # a dense model's encoder is found under .encoder
    dense = nn.Module()
    dense.encoder = model
    assert count_parameters(AuthorsBackbone(dense)) == conv + 5 * stage


def test_network_skips_the_v2_detectors_post_processing():

    class V2SSD(nn.Module):

        def forward(self, x):
            raise AssertionError('forward runs NMS in eval mode: it must not be timed')

        def get_backbone_features(self, x):
            return {'os_16': x.mean(1, keepdim=True)}

        def ssd_forward(self, end_points, device):
            scores = end_points['os_16'].flatten(1)
            return scores, scores * 2, torch.zeros(1, 4)

    outs = AuthorsNetwork(V2SSD())(torch.ones(1, 3, 4, 4))
    assert [tuple(o.shape) for o in outs] == [(1, 16), (1, 16), (1, 4)]

    class Seg(nn.Module):

        def forward(self, x):
            return x, {'aux': x[:, :1]}

    assert [tuple(o.shape) for o in AuthorsNetwork(Seg())(torch.ones(1, 3, 2, 2))] == [
        (1, 3, 2, 2), (1, 1, 2, 2)]


XXS_CLS = 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py'
VOC_05 = 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py'


# Needs the authors' code (not shipped, and not on CI): build it with
# tools/analysis_tools/prepare_authors_code.sh DIR and set MVIT3_AUTHORS_CODE=DIR.
@pytest.mark.skipif(not os.environ.get('MVIT3_AUTHORS_CODE'),
                    reason='MVIT3_AUTHORS_CODE (a checkout by prepare_authors_code.sh) is unset')
@pytest.mark.parametrize('config,backbone,whole', [
    (XXS_CLS, '736,448', '1,249,448'),   # v1 tree: the authors' XXS classifier
    (VOC_05, '1,172,985', '6,525,859'),  # v2 tree: DeepLabv3-0.5 VOC with its auxiliary head
])
def test_the_authors_model_has_our_parameter_count(config, backbone, whole):
    code = os.environ['MVIT3_AUTHORS_CODE']
    assert osp.isdir(osp.join(code, 'v1')) and osp.isdir(osp.join(code, 'v2')), code
    out = run_tool('tools/analysis_tools/benchmark.py', config, '--authors-code', code,
                   '--shape', '64', '64', '--warmup', '0', '--iters', '1', '--no-mmpretrain',
                   '--device', 'cpu')
    assert out.returncode == 0, out.stderr[-2000:]
    assert f'parameters, backbone: ours {backbone}, authors\' {backbone}' in out.stdout
    assert f'parameters, whole model: ours {whole}, authors\' {whole}' in out.stdout
