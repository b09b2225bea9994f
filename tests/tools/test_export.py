import json
import re

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from mvit3_dense.datasets.synthetic import render_scene
from mvit3_dense.utils.export import eval_pipeline, export_onnx, export_wrapper, input_metadata
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT, run_tool

CONFIGS = {
    ('segmentor', 'xxs'): 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py',
    ('segmentor', '0.5'): 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py',
    ('detector', 'xxs'): 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py',
    ('detector', '0.5'): 'configs/ssdlite/ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320x320.py',
}


@pytest.fixture(scope='module')
def demo_image(tmp_path_factory):
    image = render_scene(np.random.default_rng(0), 256)[0]
    path = tmp_path_factory.mktemp('img') / 'scene.jpg'
    mmcv.imwrite(image[..., ::-1], str(path))
    return path


def export(config, out, *extra):
    return run_tool('tools/deployment/export.py', config, 'none', out, '--shape', '256', '256',
                    *extra)


def max_diffs(stdout, what='max abs diff'):
    return [float(line.rsplit(' ', 1)[1]) for line in stdout.splitlines() if what in line]


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
@pytest.mark.parametrize('what', ['segmentor', 'detector', 'backbone'])
def test_onnx_export_matches_pytorch(tmp_path, demo_image, arch, what):
    out = tmp_path / f'{what}.onnx'
    extra = ['--image', demo_image] + (['--backbone-only'] if what == 'backbone' else [])
    config = CONFIGS[('segmentor' if what == 'backbone' else what, arch)]
    proc = export(config, out, *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    diffs = max_diffs(proc.stdout)
    assert len(diffs) == 2 and max(diffs) <= 1e-4
    # The export is the folded inference form, checked against the unfolded PyTorch model.
    assert 'batch norms folded into the convolutions' in proc.stdout
    relative = max_diffs(proc.stdout, 'relative diff')
    assert len(relative) == 2 and max(relative) <= 1e-5
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [out.name]


CLS_CONFIGS = {
    'xxs': 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py',
    '0.5': 'configs/mobilevitv3/mobilevitv3-0.5_4xb255-300e_in1k.py',
}
ALL_CONFIGS = list(CLS_CONFIGS.values()) + list(CONFIGS.values())


def network_input(config, image_path):
    """What the network receives for one image: the config's test pipeline (annotation loading
    left out) and its model's data preprocessor."""
    from mmengine.dataset import Compose

    model, cfg = build_model_from_config(str(REPO_ROOT / config))
    pipeline = [t for t in eval_pipeline(cfg) if t['type'] != 'LoadAnnotations']
    data = Compose(pipeline)(dict(img_path=str(image_path), img_id=0))
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    return model.data_preprocessor(batch, training=False)['inputs'][0]


@pytest.fixture(scope='module')
def red_image(tmp_path_factory):
    """A pure red photo (RGB 255, 0, 0) of 300x400."""
    path = tmp_path_factory.mktemp('red') / 'red.png'
    Image.new('RGB', (400, 300), (255, 0, 0)).save(path)
    return path


@pytest.mark.parametrize('config', ALL_CONFIGS)
def test_input_metadata_states_what_the_pipeline_feeds(config, red_image):
    """A pure red photo through the config's test pipeline and data preprocessor: red lands in
    the channel the metadata names, at the value its scaling gives, in the size it states."""
    meta = input_metadata(Config.fromfile(REPO_ROOT / config))
    x = network_input(config, red_image)
    red = {'RGB': 0, 'BGR': 2}[meta['input_channel_order']]
    assert x[red].max() > x[2 - red].max()
    mean, std = json.loads(meta['input_mean']), json.loads(meta['input_std'])
    expected = 255. if mean is None else (255 - mean[red]) / std[red]
    assert abs(x[red].max().item() - expected) < 1e-4
    assert meta['input_scaling'].startswith('x/255') == (mean == [0, 0, 0] and std == [255] * 3)
    match = re.fullmatch(r'(\d+)x(\d+) \(H x W, for any image\)', meta['input_size'])
    if match:
        assert list(x.shape[1:]) == [int(match[1]), int(match[2])]
    else:
        assert meta['input_size'].startswith('depends on the image'), meta['input_size']


@pytest.mark.parametrize('arch, order, resize', [
    ('xxs', 'BGR', 'ResizeEdge: cv2 bilinear'),
    ('0.5', 'RGB', 'ResizeEdge: pillow bicubic'),
])
def test_classifier_input_metadata(arch, order, resize):
    meta = input_metadata(Config.fromfile(REPO_ROOT / CLS_CONFIGS[arch]))
    assert meta['input_channel_order'] == order
    assert meta['input_scaling'] == 'x/255 (in [0, 1]), no mean/std normalisation'
    assert meta['input_resize'] == resize
    assert meta['input_size'] == '256x256 (H x W, for any image)'
    assert 'FloorCenterCrop(crop_size=256)' in meta['input_pipeline']


def test_input_metadata_follows_the_config_not_the_arch():
    cfg = Config.fromfile(REPO_ROOT / CLS_CONFIGS['xxs'])
    cfg.merge_from_dict({'model.data_preprocessor.to_rgb': True,
                         'model.data_preprocessor.mean': [1., 2., 3.]})
    cfg.test_dataloader.dataset.pipeline[1].update(backend='pillow', interpolation='bicubic',
                                                   scale=320)
    meta = input_metadata(cfg)
    assert meta['input_channel_order'] == 'RGB'
    assert meta['input_scaling'] == '(x - mean) / std, x in [0, 255]'
    assert json.loads(meta['input_mean']) == [1, 2, 3]
    assert meta['input_resize'] == 'ResizeEdge: pillow bicubic'


def test_exported_model_carries_the_input_metadata(tmp_path):
    import onnxruntime
    model, cfg = build_model_from_config(str(REPO_ROOT / CLS_CONFIGS['xxs']))
    wrapper, names = export_wrapper(model.eval())
    meta = input_metadata(cfg)
    path = export_onnx(wrapper, names, torch.randn(1, 3, 256, 256), tmp_path / 'cls.onnx',
                       metadata=meta)
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    assert session.get_modelmeta().custom_metadata_map == meta
    assert [p.name for p in tmp_path.iterdir()] == ['cls.onnx']


@pytest.mark.parametrize('arch, size', [('xxs', (5, 5)), ('0.5', (6, 6))])
def test_onnx_export_at_a_size_the_patches_do_not_tile(arch, size, tmp_path):
    """At 80x80 the last stage's 5x5 map is resized to the 6x6 that 2x2 patches tile (and back
    in the v1 lineage, not in v2's); the graph computes that size itself (symbolic), and must
    round it up as PyTorch does."""
    from mvit3_dense.models import MobileViTv3
    from mvit3_dense.utils.runtime_sessions import exported_differences, load_exported

    from ..utils.test_deploy import randomize_norms
    torch.manual_seed(0)
    backbone = MobileViTv3(arch=arch, out_indices=(4, ))
    backbone.init_weights()
    wrapper, names = export_wrapper(randomize_norms(backbone, seed=1).eval(), backbone_only=True)
    x = torch.randn(1, 3, 80, 80)
    with torch.no_grad():
        assert wrapper(x)[0].shape[-2:] == size
    path = export_onnx(wrapper, names, x, tmp_path / 'backbone.onnx')
    _, relative = exported_differences(load_exported(path), wrapper, x)
    assert relative <= 1e-5


@pytest.mark.parametrize('out, extra, message', [
    ('model.tflite', [], "model.tflite: unknown output type '.tflite'; name the file .onnx (ONNX "
                         'Runtime), .pte (ExecuTorch, XNNPACK) or .mlpackage (Core ML)'),
    ('model.onnx', ['--int8'], '--int8 applies to .pte exports (ExecuTorch with XNNPACK)'),
    ('model.pte', ['--dynamic'], '--dynamic applies to .onnx exports only (ExecuTorch and Core ML '
                                 'programs keep the exported shape)'),
    ('model.pte', ['--int8', '--calib-images', '0'], '--calib-images must be at least 1, got 0'),
])
def test_export_refuses_what_the_format_cannot_do(tmp_path, capsys, out, extra, message):
    from .test_bad_inputs import call_tool
    status, line, _ = call_tool('tools/deployment/export.py',
                                [REPO_ROOT / CLS_CONFIGS['xxs'], 'none', tmp_path / out, *extra],
                                capsys)
    assert status == 1 and line == 'error: ' + message.replace('model.tflite',
                                                               str(tmp_path / out))
    assert list(tmp_path.iterdir()) == []
