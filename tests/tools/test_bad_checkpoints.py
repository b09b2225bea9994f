"""Checkpoints that cannot be used stop every tool with one line naming the file and the
problem: another model's weights, NaN weights, truncated, empty or foreign files."""
import mmcv
import numpy as np
import pytest
import torch

from mvit3_dense.datasets import write_demo_voc
from mvit3_dense.datasets.synthetic import render_scene
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from .test_bad_inputs import call_tool

CONFIG = str(REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py')
DETECTION = REPO_ROOT / 'configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py'
OTHER_VARIANT = (REPO_ROOT / 'configs/deeplabv3'
                 / 'deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py')


def save_model(config, path, edit=None):
    model, _ = build_model_from_config(str(config))
    state = model.state_dict()
    if edit:
        edit(state)
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path


@pytest.fixture(scope='module')
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad_ckpt')
    root = write_demo_voc(tmp / 'voc', {'train': 2, 'val': 2}, size=128)
    image = tmp / 'scene.png'
    mmcv.imwrite(render_scene(np.random.default_rng(0), 128)[0], str(image))
    good = save_model(CONFIG, tmp / 'good.pth')
    truncated = tmp / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    empty = tmp / 'empty.pth'
    empty.write_bytes(b'')
    png = tmp / 'picture.pth'
    png.write_bytes(image.read_bytes())

    def poison(state):
        state['decode_head.conv_seg.weight'][0, 0] = float('nan')

    files = dict(
        detection=save_model(DETECTION, tmp / 'detection.pth'),
        variant=save_model(OTHER_VARIANT, tmp / 'variant.pth'),
        nan=save_model(CONFIG, tmp / 'nan.pth', poison),
        truncated=truncated, empty=empty, png=png)
    return dict(tmp=tmp, root=root, image=image, good=good, files=files)


def tools(setting, checkpoint):
    tmp, root = setting['tmp'], setting['root']
    return {
        'test.py': ('tools/test.py', [CONFIG, checkpoint, '--work-dir', tmp / 'work',
                                      '--cfg-options', f'test_dataloader.dataset.data_root={root}']),
        'train.py --resume': ('tools/train.py', [
            CONFIG, '--work-dir', tmp / 'resume', '--resume', checkpoint, '--cfg-options',
            f'train_dataloader.dataset.data_root={root}', 'val_cfg=None', 'val_dataloader=None',
            'val_evaluator=None']),
        'image_demo.py': ('tools/demo/image_demo.py', [setting['image'], CONFIG, checkpoint,
                                                       '--out-file', tmp / 'drawn.png']),
        'export.py': ('tools/deployment/export.py', [CONFIG, checkpoint,
                                                               tmp / 'model.onnx']),
    }


EXPECTED = {
    # another model: its head's tensors are unexpected, the segmentation head's missing
    'detection': 'does not fit this model (',
    # another variant: same names, other shapes
    'variant': 'of another shape (e.g. backbone.',
    'nan': 'holds NaN or infinite weights in 1 tensors (e.g. decode_head.conv_seg.weight: 1 NaN',
    'truncated': 'is not a readable PyTorch checkpoint (truncated or corrupt?)',
    'empty': 'is empty (0 bytes)',
    'png': 'is not a PyTorch checkpoint (a PNG image)',
}


@pytest.mark.parametrize('tool', ['test.py', 'train.py --resume', 'image_demo.py',
                                  'export.py'])
def test_unusable_checkpoints_stop_each_tool_in_one_line(setting, tool, capsys):
    for case, checkpoint in setting['files'].items():
        script, argv = tools(setting, checkpoint)[tool]
        status, line, _ = call_tool(script, argv, capsys)
        assert status == 1, (tool, case, line)
        assert line.startswith(f'error: {checkpoint} '), (tool, case, line)
        assert EXPECTED[case] in line, (tool, case, line)
        assert 'weights_only' not in line
    tmp = setting['tmp']
    assert not (tmp / 'drawn.png').exists() and not (tmp / 'model.onnx').exists()


def test_a_detection_checkpoint_names_the_mismatch(setting, capsys):
    script, argv = tools(setting, setting['files']['detection'])['test.py']
    _, line, _ = call_tool(script, argv, capsys)
    assert 'missing from the file (e.g. decode_head.' in line, line
    assert 'in the file that the model does not have (e.g. neck.' in line, line
    assert 'pass a checkpoint of this config' in line


def test_the_matching_checkpoint_still_evaluates(setting, capsys):
    script, argv = tools(setting, setting['good'])['test.py']
    status, _, output = call_tool(script, argv, capsys)
    assert status == 0 and 'mIoU: ' in output


def test_converter_refuses_nan_weights(setting, capsys):
    source = setting['tmp'] / 'nan_source.pth'
    torch.save({'conv_1.block.conv.weight': torch.full((16, 3, 3, 3), float('nan'))}, source)
    status, line, _ = call_tool('tools/model_converters/cvnets2mmdense.py',
                                [source, setting['tmp'] / 'converted.pth'], capsys)
    assert status == 1 and line.startswith(f'error: {source} holds NaN or infinite weights')
    assert not (setting['tmp'] / 'converted.pth').exists()
