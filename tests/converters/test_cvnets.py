import subprocess
import sys

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import Conversion, ConversionError, convert, convert_checkpoint_file
from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.checkpoint import CheckpointError

from ..conftest import REPO_ROOT, load_fixture

STAGES = ['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
TOLERANCE = 1e-4


def build_classifier(arch, checkpoint):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    backbone = MobileViTv3(arch=arch, init_cfg=None)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='MobileViTv3', arch=arch,
                      out_indices=tuple(range(len(backbone.all_channels)))),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=backbone.all_channels[-1])))
    # strict: every tensor of the converted checkpoint has a home, and every weight is filled.
    load_checkpoint(model, str(checkpoint), map_location='cpu', strict=True)
    return model.eval()


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
@pytest.mark.parametrize('size', ['', '_320x256'])
def test_converted_weights_reproduce_the_authors_outputs(reference_dir, tmp_path, arch, size):
    dst = tmp_path / 'classifier.pth'
    result = convert_checkpoint_file(reference_dir / 'fixtures' / f'mobilevitv3_{arch}_state_dict.pt',
                                     dst, kind='classifier', progress=False)
    assert result.arch == arch
    io = load_fixture(reference_dir, f'mobilevitv3_{arch}_io{size}.pt')
    model = build_classifier(arch, dst)
    with torch.no_grad():
        feats = model.backbone(io['x'])
        logits = model.head.fc(model.neck(feats[-1:])[0])
    expected = [io[name] for name in STAGES]
    if arch == 'xxs':
        expected.append(io['conv_1x1_exp'])
    else:  # the v2-based model has no expansion; the authors' entry repeats layer_5
        assert torch.equal(io['conv_1x1_exp'], io['layer_5'])
    assert len(feats) == len(expected)
    for name, ours, theirs in zip(STAGES + ['conv_1x1_exp'], feats, expected):
        assert ours.shape == theirs.shape, name
        assert (ours - theirs).abs().max().item() <= TOLERANCE, name
    assert (logits - io['logits']).abs().max().item() <= TOLERANCE


def test_backbone_checkpoint_loads_through_init_cfg(reference_dir, tmp_path):
    dst = tmp_path / 'backbone.pth'
    convert_checkpoint_file(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt', dst,
                            progress=False)
    model = MobileViTv3(arch='xxs', out_indices=(6,),
                        init_cfg=dict(type='Pretrained', checkpoint=str(dst)))
    model.init_weights()
    io = load_fixture(reference_dir, 'mobilevitv3_xxs_io.pt')
    with torch.no_grad():
        out = model.eval()(io['x'])[0]
    assert (out - io['conv_1x1_exp']).abs().max().item() <= TOLERANCE


def test_round_trip_keeps_every_tensor(reference_dir):
    source = load_fixture(reference_dir, 'mobilevitv3_0.5_state_dict.pt')
    result = convert(source, kind='classifier')
    assert isinstance(result, Conversion)
    assert (result.kind, result.arch, result.family, result.with_exp_conv) == (
        'classifier', '0.5', 'v2', False)
    assert (result.num_classes, result.renamed, result.dropped) == (1000, len(source), ())
    assert len(result.state_dict) == len(source)
    # The source's tensors themselves, each used once.
    converted = sorted(v.data_ptr() for v in result.state_dict.values())
    assert converted == sorted(v.data_ptr() for v in source.values())
    model = MobileViTv3(arch='0.5')
    backbone = {k[len('backbone.'):]: v for k, v in result.state_dict.items()
                if k.startswith('backbone.')}
    missing, unexpected = model.load_state_dict(backbone, strict=True)
    assert not missing and not unexpected
    # The backbone kind drops the classifier and says so.
    result = convert(source, kind='backbone')
    assert result.dropped == ('head.fc.weight', 'head.fc.bias')
    assert result.renamed == len(source) - 2 == len(result.state_dict)


def test_refuses_another_variant(reference_dir):
    source = load_fixture(reference_dir, 'mobilevitv3_xxs_state_dict.pt')
    with pytest.raises(ConversionError, match="holds MobileViTv3-xxs but arch 'xs' was requested"):
        convert(source, kind='backbone', arch='xs')
    with pytest.raises(ConversionError, match="holds MobileViTv3-xxs but arch '0.5'"):
        convert(source, kind='backbone', arch='0.5')


def test_refuses_a_damaged_or_foreign_state_dict(reference_dir):
    source = load_fixture(reference_dir, 'mobilevitv3_xxs_state_dict.pt')
    source.pop('layer_4.1.fusion.block.conv.weight')
    with pytest.raises(ConversionError, match='no known v1-based MobileViTv3 variant'):
        convert(source, kind='backbone')
    with pytest.raises(ConversionError, match='1 tensors missing'):
        convert(source, kind='backbone', arch='xxs')
    resnet_like = {'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(10, 64)}
    with pytest.raises(ConversionError, match="not an ml-cvnets MobileViT checkpoint"):
        convert(resnet_like, kind='backbone')


def run_cli(*args):
    return subprocess.run([sys.executable, 'tools/model_converters/cvnets2mmdense.py', *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True)


def test_cli_leaves_no_file_on_failure(reference_dir, tmp_path):
    dst = tmp_path / 'out.pth'
    proc = run_cli(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt', dst, '--arch', 's')
    assert proc.returncode == 1
    assert "holds MobileViTv3-xxs but arch 's' was requested" in proc.stderr
    assert list(tmp_path.iterdir()) == []

    truncated = tmp_path / 'truncated.pt'
    data = (reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt').read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    proc = run_cli(truncated, dst)
    assert proc.returncode == 1 and 'truncated or corrupt' in proc.stderr
    assert not dst.exists()

    proc = run_cli(tmp_path / 'absent.pt', dst)
    assert proc.returncode == 1 and 'checkpoint not found' in proc.stderr


def test_cli_detects_the_variant(reference_dir, tmp_path):
    dst = tmp_path / 'xxs.pth'
    proc = run_cli(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt', dst, '--quiet')
    assert proc.returncode == 0, proc.stderr
    assert 'MobileViTv3-xxs (v1-based, conv_1x1_exp kept, from cvnets)' in proc.stdout
    saved = torch.load(dst, weights_only=True)
    assert saved['meta']['arch'] == 'xxs' and 'stem.conv.weight' in saved['state_dict']


def test_refuses_pickled_objects(tmp_path):
    path = tmp_path / 'evil.pt'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'payload': subprocess.Popen}, path)
    with pytest.raises(CheckpointError, match=r'is refused as unsafe: it names \S*Popen'):
        convert_checkpoint_file(path, tmp_path / 'out.pth', progress=False)
    assert not (tmp_path / 'out.pth').exists()


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
def test_bf16_autocast_agrees_with_fp32(reference_dir, tmp_path, arch):
    dst = tmp_path / 'classifier.pth'
    convert_checkpoint_file(reference_dir / 'fixtures' / f'mobilevitv3_{arch}_state_dict.pt', dst,
                            kind='classifier', progress=False)
    model = build_classifier(arch, dst)
    io = load_fixture(reference_dir, f'mobilevitv3_{arch}_io.pt')
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        logits = model(io['x'], mode='tensor')
    assert logits.dtype == torch.bfloat16
    cosine = torch.nn.functional.cosine_similarity(logits.float(), io['logits'])
    assert cosine.min().item() >= 0.999


def test_init_cfg_refuses_other_variants_and_foreign_files(reference_dir, tmp_path):
    from mvit3_dense.utils.checkpoint import CheckpointError
    xxs = tmp_path / 'xxs.pth'
    convert_checkpoint_file(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt', xxs,
                            progress=False)
    for arch in ('xs', '0.5'):
        model = MobileViTv3(arch=arch, init_cfg=dict(type='Pretrained', checkpoint=str(xxs)))
        with pytest.raises(CheckpointError, match=f'holds MobileViTv3-xxs weights, which do not '
                           f'fit this MobileViTv3-{arch} backbone'):
            model.init_weights()
    raw = reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt'
    with pytest.raises(CheckpointError, match="in the authors' \\(CVNets\\) format: convert"):
        MobileViTv3(arch='xxs', init_cfg=dict(type='Pretrained', checkpoint=str(raw))).init_weights()
    foreign = tmp_path / 'resnet.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7)}, foreign)
    with pytest.raises(CheckpointError, match='is not a MobileViTv3 backbone checkpoint'):
        MobileViTv3(arch='xxs', init_cfg=dict(type='Pretrained', checkpoint=str(foreign))).init_weights()
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(xxs.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match='truncated or corrupt'):
        MobileViTv3(arch='xxs', init_cfg=dict(type='Pretrained', checkpoint=str(truncated))).init_weights()
    # A whole-model checkpoint through a prefix, and the expansion dropped by dense models.
    whole = tmp_path / 'whole.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in
                               torch.load(xxs, weights_only=True)['state_dict'].items()}}, whole)
    model = MobileViTv3(arch='xxs', with_exp_conv=False, init_cfg=dict(
        type='Pretrained', checkpoint=str(whole), prefix='backbone.'))
    model.init_weights()
    io = load_fixture(reference_dir, 'mobilevitv3_xxs_io.pt')
    model.out_indices = (5, )
    with torch.no_grad():
        assert (model.eval()(io['x'])[0] - io['layer_5']).abs().max().item() <= TOLERANCE
