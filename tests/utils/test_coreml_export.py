"""Core ML export (coremltools ML programs): what the saved package holds, checked against the
PyTorch network. Core ML cannot run on Linux, so the packages are validated, not run."""
import os
import stat
import time

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.coreml_export import CoreMLExportError, export_coreml, package_summary
from mvit3_dense.utils.deploy import prepare_for_inference
from mvit3_dense.utils.errors import InputError
from mvit3_dense.utils.export import export_wrapper, input_metadata
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from ..tools.test_bad_inputs import call_tool

pytest.importorskip('coremltools', reason='coremltools is in requirements/deploy.txt')

DEEPLAB = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
SSDLITE = 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py'
DEEPLAB_V2 = 'configs/mobilevitv2/deeplabv3_mobilevitv2-0.5_4xb32-50e_voc12aug-512x512.py'

# name: (config, input size); the backbone returns all of its feature maps.
CASES = {
    'backbone-xxs': (None, 128),
    'deeplabv3-xxs': (DEEPLAB, 128),
    'ssdlite-xxs': (SSDLITE, 160),
    'deeplabv3-mobilevitv2-0.5': (DEEPLAB_V2, 128),
}


def build(case):
    """The folded inference form of a case, its wrapper, output names and input metadata."""
    config, size = CASES[case]
    torch.manual_seed(0)
    if config is None:
        stages = len(MobileViTv3(arch='xxs', init_cfg=None).all_channels)
        model = MobileViTv3(arch='xxs', out_indices=range(stages), init_cfg=None)
        metadata = input_metadata(Config.fromfile(REPO_ROOT / DEEPLAB))
    else:
        model, cfg = build_model_from_config(str(REPO_ROOT / config))
        metadata = input_metadata(cfg)
    model = prepare_for_inference(model.eval(), channels_last=False)
    # coremltools stores identical constants once (its const_deduplication pass), and initial
    # weights repeat (norm scales of ones, zero biases): perturbing every parameter makes each
    # stored tensor unique, so the weight count below compares one to one.
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param), alpha=1e-3)
    wrapper, names = export_wrapper(model, backbone_only=config is None)
    return wrapper, names, torch.randn(1, 3, size, size), metadata


def reached_parameters(wrapper, example):
    """Parameter values the forward pass uses (training-only parts such as DeepLabv3's
    auxiliary head are built but never run, and not exported)."""
    outputs = wrapper(example)
    outputs = outputs if isinstance(outputs, tuple) else (outputs, )
    sum(o.sum() for o in outputs).backward()
    return sum(p.numel() for p in wrapper.parameters() if p.grad is not None)


def package_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


@pytest.fixture(scope='module', params=list(CASES))
def converted(request, tmp_path_factory):
    wrapper, names, example, metadata = build(request.param)
    with torch.no_grad():
        outputs = wrapper(example)
    outputs = outputs if isinstance(outputs, tuple) else (outputs, )
    folder = tmp_path_factory.mktemp(request.param)
    start = time.perf_counter()
    path = export_coreml(wrapper, names, example, folder / f'{request.param}.mlpackage',
                         metadata=metadata)
    seconds = time.perf_counter() - start
    print(f'\n{request.param}: converted in {seconds:.1f} s, '
          f'{package_bytes(path) / 2**20:.2f} MiB')
    return dict(case=request.param, path=path, folder=folder, names=names, example=example,
                shapes=[tuple(o.shape) for o in outputs], metadata=metadata,
                parameters=reached_parameters(wrapper, example))


def test_package_holds_the_network(converted):
    path = converted['path']
    assert path.is_dir() and [p.name for p in converted['folder'].iterdir()] == [path.name]
    summary = package_summary(path)
    assert summary['inputs'] == {'input': (1, 3) + tuple(converted['example'].shape[2:])}
    assert summary['outputs'] == dict(zip(converted['names'], converted['shapes']))
    # Every parameter the forward pass reaches is a float32 constant of the program.
    assert summary['weights'] == converted['parameters']
    assert summary['weight_types'] == {'FLOAT32'}
    assert 'cast' not in summary['ops'] and summary['ops']['conv'] >= 34
    assert summary['opset'] == 'CoreML5' and summary['spec_version'] == 6  # iOS 15 / macOS 12
    stored = summary['metadata']
    assert {k: stored[k] for k in converted['metadata']} == converted['metadata']
    assert stored['outputs'].split('; ')[0].startswith(f'{converted["names"][0]}: float32 ')


def test_expected_outputs(converted):
    """Known shapes at the test sizes (output stride 32 for the backbone's last stages, 16 for
    DeepLabv3; SSDLite's anchors over its six feature maps)."""
    expected = {
        'backbone-xxs': {'feat0': (1, 16, 64, 64), 'feat1': (1, 16, 64, 64),
                         'feat2': (1, 24, 32, 32), 'feat3': (1, 64, 16, 16),
                         'feat4': (1, 80, 8, 8), 'feat5': (1, 128, 4, 4),
                         'feat6': (1, 512, 4, 4)},
        'deeplabv3-xxs': {'logits': (1, 21, 8, 8)},
        'ssdlite-xxs': {'scores': (1, 838, 81), 'boxes': (1, 838, 4)},
        'deeplabv3-mobilevitv2-0.5': {'logits': (1, 21, 8, 8)},
    }[converted['case']]
    assert package_summary(converted['path'])['outputs'] == expected


def test_package_is_readable_by_all(converted):
    for directory, _, files in os.walk(converted['path']):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o644


class Conv(nn.Module):
    """A small network that converts in about a second; ``post`` follows the convolution."""

    def __init__(self, channels=4, post=None):
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.post = post

    def forward(self, x):
        y = self.conv(x)
        return self.post(y) if self.post is not None else y


def test_replacing_a_package(tmp_path):
    path = tmp_path / 'net.mlpackage'
    export_coreml(Conv(4).eval(), ['y'], torch.randn(1, 3, 8, 8), path)
    export_coreml(Conv(6).eval(), ['z'], torch.randn(1, 3, 8, 8), path)
    summary = package_summary(path)
    assert summary['outputs'] == {'z': (1, 6, 8, 8)} and summary['weights'] == 6 * 27 + 6
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


class Erfinv(nn.Module):
    def forward(self, x):
        return torch.erfinv(x.tanh())


def test_failed_conversion_leaves_nothing(tmp_path):
    path = tmp_path / 'erfinv.mlpackage'
    with pytest.raises(CoreMLExportError, match=r'Core ML conversion of Conv failed: '
                       r'NotImplementedError: Unsupported fx node erfinv'):
        export_coreml(Conv(post=Erfinv()).eval(), ['y'], torch.randn(1, 3, 8, 8), path)
    assert list(tmp_path.iterdir()) == []


def test_failed_conversion_keeps_the_existing_package(tmp_path):
    path = tmp_path / 'net.mlpackage'
    export_coreml(Conv(4).eval(), ['y'], torch.randn(1, 3, 8, 8), path)
    before = {p.relative_to(path): p.read_bytes() for p in path.rglob('*') if p.is_file()}
    with pytest.raises(CoreMLExportError):
        export_coreml(Conv(post=Erfinv()).eval(), ['y'], torch.randn(1, 3, 8, 8), path)
    after = {p.relative_to(path): p.read_bytes() for p in path.rglob('*') if p.is_file()}
    assert after == before and [p.name for p in tmp_path.iterdir()] == [path.name]


def test_interrupted_save_leaves_nothing(tmp_path, monkeypatch):
    """A save that dies half-way (disk full) leaves neither a package nor its staging folder,
    and an existing package stays as it was."""
    import coremltools as ct
    path = tmp_path / 'net.mlpackage'
    export_coreml(Conv(4).eval(), ['y'], torch.randn(1, 3, 8, 8), path)
    save = ct.models.MLModel.save

    def half_save(model, target):
        save(model, target)
        weights = os.path.join(target, 'Data', 'com.apple.CoreML', 'weights', 'weight.bin')
        os.truncate(weights, 10)
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(ct.models.MLModel, 'save', half_save)
    with pytest.raises(CoreMLExportError, match='writing or validating the Core ML '
                       'package of Conv failed: OSError'):
        export_coreml(Conv(6).eval(), ['z'], torch.randn(1, 3, 8, 8), path)
    assert package_summary(path)['outputs'] == {'y': (1, 4, 8, 8)}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match='name it .mlpackage'):
        export_coreml(Conv().eval(), ['y'], torch.randn(1, 3, 8, 8), tmp_path / 'net.mlmodel')
    with pytest.raises(ValueError, match='Conv returns 1 outputs but 2 names were given'):
        export_coreml(Conv().eval(), ['a', 'b'], torch.randn(1, 3, 8, 8), tmp_path / 'n.mlpackage')
    assert list(tmp_path.iterdir()) == []


def test_export_tool_writes_a_package(tmp_path, capsys):
    out = tmp_path / 'deeplabv3.mlpackage'
    status, _, printed = call_tool('tools/deployment/export.py',
                                      [DEEPLAB, 'none', out, '--shape', 128, 128], capsys)
    assert status == 0, printed[-3000:]
    assert 'Traceback' not in printed
    assert 'Core ML ML program, spec validated; input 1x3x128x128; outputs: logits' in printed
    assert 'not run: Core ML runs on Apple devices only (macOS, iOS)' in printed
    summary = package_summary(out)
    assert summary['inputs'] == {'input': (1, 3, 128, 128)}
    assert summary['outputs'] == {'logits': (1, 21, 8, 8)}
    meta = input_metadata(Config.fromfile(REPO_ROOT / DEEPLAB))
    assert {k: summary['metadata'][k] for k in meta} == meta
    assert [p.name for p in tmp_path.iterdir()] == [out.name]
