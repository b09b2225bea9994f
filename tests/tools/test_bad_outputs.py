"""Output files appear complete or not at all: segmentation label maps (--out), ONNX exports."""
import stat

import pytest
import torch

from mvit3_dense.datasets import write_demo_voc
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from .test_bad_inputs import call_tool

SEG = str(REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py')


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('out')
    root = write_demo_voc(tmp / 'voc', {'val': 3}, size=128)
    model, _ = build_model_from_config(SEG)
    checkpoint = tmp / 'seg.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return dict(root=root, checkpoint=checkpoint)


def evaluate(voc, out, work_dir, capsys):
    return call_tool('tools/test.py', [SEG, voc['checkpoint'], '--work-dir', work_dir, '--out',
                                       out, '--cfg-options',
                                       f"test_dataloader.dataset.data_root={voc['root']}"], capsys)


def test_label_maps_appear_when_the_evaluation_has_finished(voc, tmp_path, capsys):
    out = tmp_path / 'maps'
    status, _, output = evaluate(voc, out, tmp_path / 'work', capsys)
    assert status == 0 and 'mIoU: ' in output
    names = sorted(voc['root'].joinpath('ImageSets/Segmentation/val.txt').read_text().split())
    assert sorted(p.stem for p in out.glob('*.png')) == names
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith('.partial')] == []
    # a second run into the existing folder replaces the maps file by file
    status, _, _ = evaluate(voc, out, tmp_path / 'work', capsys)
    assert status == 0 and sorted(p.stem for p in out.glob('*.png')) == names


def test_a_failed_evaluation_leaves_no_label_maps(voc, tmp_path, capsys, monkeypatch):
    from mmengine.evaluator import Evaluator

    def fail(self, size):
        raise RuntimeError('interrupted after the maps were written')

    monkeypatch.setattr(Evaluator, 'evaluate', fail)
    out = tmp_path / 'maps'
    with pytest.raises(RuntimeError, match='interrupted'):
        evaluate(voc, out, tmp_path / 'work', capsys)
    assert not out.exists() and len(list((tmp_path / 'maps.partial').glob('*.png'))) == 3


def test_onnx_export_is_readable_by_all_and_not_left_when_a_check_image_is_bad(tmp_path, capsys):
    bad = tmp_path / 'empty.jpg'
    bad.write_bytes(b'')
    out = tmp_path / 'model.onnx'
    argv = [SEG, 'none', out, '--shape', '64', '64', '--backbone-only']
    status, line, _ = call_tool('tools/deployment/export.py', argv + ['--image', bad],
                                capsys)
    assert status == 1 and line == (f'error: check image {bad}: not a readable image. Pass image '
                                    'files (JPEG, PNG, ...) to --image, or leave --image out.')
    assert list(tmp_path.iterdir()) == [bad]
    status, _, _ = call_tool('tools/deployment/export.py', argv, capsys)
    assert status == 0 and stat.S_IMODE(out.stat().st_mode) == 0o644
    import onnxruntime
    session = onnxruntime.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert session.get_modelmeta().custom_metadata_map['input_channel_order'] in ('RGB', 'BGR')
