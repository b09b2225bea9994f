"""Hostile checkpoints through every tool that reads one: nothing runs, and the tool stops with
one line naming the file and saying it is refused as unsafe."""
import subprocess
import sys

import mmcv
import numpy as np
import pytest

from mvit3_dense.datasets import write_demo_voc
from mvit3_dense.datasets.synthetic import render_scene

from ..conftest import REPO_ROOT
from ..tools.test_bad_inputs import call_tool as run_tool_in_process
from .payloads import attack_payloads, placements, save_payload

CONFIG = str(REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py')
CHOSEN = [('getattr chain -> exec via _rebuild_from_type_v2', 'top level'),
          ('getattr chain -> exec via _rebuild_from_type_v2', 'in state_dict'),
          ('__reduce__ -> os.system', 'top level'),
          ('numpy object array holding the exec chain', 'in state_dict')]


@pytest.fixture(scope='module')
def setting(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('tools')
    markers = tmp / 'markers'
    markers.mkdir()
    payloads = attack_payloads(markers / 'ran')
    files = {}
    for i, (name, where) in enumerate(CHOSEN):
        files[(name, where)] = save_payload(placements(payloads[name])[where], tmp / f'p{i}.pth')
    root = write_demo_voc(tmp / 'voc', {'train': 2, 'val': 2}, size=128)
    image = tmp / 'scene.png'
    mmcv.imwrite(render_scene(np.random.default_rng(0), 128)[0], str(image))
    return dict(tmp=tmp, markers=markers, files=files, root=root, image=image)


def call_tool(script, argv, capsys):
    return run_tool_in_process(script, argv, capsys)[:2]


def entry_points(setting, payload):
    tmp, root = setting['tmp'], setting['root']
    data = [f'train_dataloader.dataset.data_root={root}', 'train_cfg.max_iters=2',
            'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None']
    pretrained = tmp / f'pretrained_{payload.stem}.py'
    pretrained.write_text(
        f"_base_ = [{CONFIG!r}]\n"
        "model = dict(backbone=dict(init_cfg=dict(type='Pretrained', "
        f"checkpoint={str(payload)!r})))\n")
    return {
        'tools/test.py': ('tools/test.py', [CONFIG, payload, '--work-dir', tmp / 'test',
                                            '--cfg-options',
                                            f'test_dataloader.dataset.data_root={root}']),
        'tools/train.py --resume': ('tools/train.py', [CONFIG, '--work-dir', tmp / 'resume',
                                                       '--resume', payload, '--cfg-options',
                                                       *data]),
        'load_from=': ('tools/train.py', [CONFIG, '--work-dir', tmp / 'load_from',
                                          '--cfg-options', *data, f'load_from={payload}']),
        'backbone init_cfg Pretrained': ('tools/train.py', [pretrained, '--work-dir',
                                                            tmp / 'pretrained', '--cfg-options',
                                                            *data]),
        'converter': ('tools/model_converters/cvnets2mmdense.py', [payload, tmp / 'conv.pth']),
        'export.py': ('tools/deployment/export.py', [CONFIG, payload,
                                                               tmp / 'model.onnx']),
        'image_demo.py': ('tools/demo/image_demo.py', [setting['image'], CONFIG, payload,
                                                       '--out-file', tmp / 'drawn.png']),
    }


ENTRY_POINTS = ['tools/test.py', 'tools/train.py --resume', 'load_from=',
                'backbone init_cfg Pretrained', 'converter', 'export.py', 'image_demo.py']


@pytest.mark.parametrize('entry', ENTRY_POINTS)
def test_each_tool_refuses_each_payload_in_one_line(setting, entry, capsys):
    for (name, where), payload in setting['files'].items():
        script, argv = entry_points(setting, payload)[entry]
        status, line = call_tool(script, argv, capsys)
        assert status != 0, (entry, name, where)
        assert line.startswith(f'error: {payload} is refused as unsafe: it '), (entry, name, line)
        assert 'weights_only' not in line
        assert list(setting['markers'].iterdir()) == [], (entry, name, where)
    assert not (setting['tmp'] / 'model.onnx').exists()
    for written in ('conv.pth', 'drawn.png'):
        assert not (setting['tmp'] / written).exists()


def test_the_line_as_printed_by_a_fresh_process(setting):
    payload = setting['files'][CHOSEN[0]]
    proc = subprocess.run([sys.executable, 'tools/test.py', CONFIG, str(payload), '--work-dir',
                           str(setting['tmp'] / 'fresh'), '--cfg-options',
                           f"test_dataloader.dataset.data_root={setting['root']}"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (f"error: {payload} is refused as unsafe: it calls getattr(builtins.getattr, "
                    "'__self__'). Only tensors, plain containers and the objects of mmengine "
                    'training checkpoints are loaded; get the file from a trusted source, or '
                    'load it as a plain state_dict (a dict of tensors) saved from a trusted copy.')
    assert list(setting['markers'].iterdir()) == []
