"""Exported models evaluated by tools/test.py through their runtime (ONNX Runtime, ExecuTorch):
the same predictions as the PyTorch checkpoint on the demo sets of the three tasks, through the
config's own pipeline, post-processing and metric."""
import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from mvit3_dense.datasets import write_demo_coco, write_demo_imagenet, write_demo_voc
from mvit3_dense.utils.errors import InputError
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.runtime_sessions import load_exported

from ..conftest import REPO_ROOT
from ..utils.test_deploy import randomize_norms
from .test_bad_inputs import call_tool

DEMOS = {
    'cls': ('configs/demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py', write_demo_imagenet,
            {'train': 8, 'val': 6}, 96),
    'seg': ('configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py',
            write_demo_voc, {'train': 8, 'val': 3}, 128),
    'det': ('configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py',
            write_demo_coco, {'train': 8, 'val': 3}, 160),
}


def make_demo(task, tmp):
    """A small demo set of ``task`` in ``tmp`` and a checkpoint whose batch norms hold varied
    statistics (so that the predictions vary between pixels, boxes and images, and the logits
    have a magnitude that a quantisation error can be measured against)."""
    config, writer, splits, size = DEMOS[task]
    root = writer(tmp / 'data', splits, size=size)
    config = str(REPO_ROOT / config)
    torch.manual_seed(0)
    model, _ = build_model_from_config(config)
    checkpoint = tmp / 'model.pth'
    torch.save(dict(state_dict=randomize_norms(model, seed=1).state_dict()), checkpoint)
    return dict(task=task, config=config, root=root, checkpoint=checkpoint, size=size, tmp=tmp,
                model=model, splits=splits)


@pytest.fixture(scope='module', params=sorted(DEMOS))
def demo(request, tmp_path_factory):
    return make_demo(request.param, tmp_path_factory.mktemp(request.param))


def export(demo, out, capsys, *extra):
    status, line, output = call_tool(
        'tools/deployment/export.py',
        [demo['config'], demo['checkpoint'], out, '--shape', demo['size'], demo['size'],
         '--cfg-options', f"data_root={demo['root']}", *extra], capsys)
    assert status == 0, output[-3000:]
    return output


def evaluate(demo, model_file, out, capsys):
    status, _, output = call_tool(
        'tools/test.py', [demo['config'], model_file, '--work-dir', demo['tmp'] / 'work',
                          '--out', out, '--cfg-options', f"data_root={demo['root']}"], capsys)
    assert status == 0, output[-3000:]
    metrics = dict(re.findall(r'^(\S+): (-?[\d.]+)$', output, re.M))
    assert metrics, output[-2000:]
    return {k: float(v) for k, v in metrics.items()}


def predictions(task, out):
    """Per image: classification scores, segmentation label maps, detections (boxes, scores,
    labels), as tools/test.py --out writes them."""
    if task == 'seg':
        return {p.stem: np.asarray(Image.open(p)) for p in sorted(out.glob('*.png'))}
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    if task == 'cls':
        return [np.asarray(r['pred_score']) for r in dumped]
    return [{k: np.asarray(v) for k, v in r['pred_instances'].items()} for r in dumped]


def assert_same_predictions(task, ours, reference):
    assert len(ours) == len(reference) > 0
    if task == 'cls':
        np.testing.assert_allclose(np.stack(ours), np.stack(reference), atol=1e-5)
    elif task == 'seg':
        assert list(ours) == list(reference)
        agree = np.mean([np.mean(ours[k] == reference[k]) for k in reference])
        classes = set().union(*(np.unique(m).tolist() for m in reference.values()))
        assert agree >= 0.999 and len(classes) > 1, (agree, classes)
    else:
        for a, b in zip(ours, reference):
            # The reference's 20 best detections each found in ours (near-equal scores may come
            # in either order, so pairs are matched by label, score and box).
            top = b['scores'][:20]
            assert len(top) > 0
            unmatched = list(range(len(a['scores'])))
            for i in range(len(top)):
                found = [j for j in unmatched if a['labels'][j] == b['labels'][i]
                         and abs(a['scores'][j] - b['scores'][i]) <= 1e-4
                         and np.abs(a['bboxes'][j] - b['bboxes'][i]).max() <= 1e-2]
                assert found, (i, b['scores'][i], b['bboxes'][i])
                unmatched.remove(found[0])


def output_path(demo, name):
    return demo['tmp'] / (name if demo['task'] == 'seg' else f'{name}.pkl')


@pytest.mark.parametrize('suffix', ['.onnx', pytest.param('.pte', marks=pytest.mark.slow)])
def test_an_exported_model_predicts_as_the_checkpoint(demo, suffix, capsys):
    if suffix == '.pte':
        pytest.importorskip('executorch', reason='requirements/deploy.txt')
    task = demo['task']
    ref_out = output_path(demo, 'reference')
    ref_metrics = evaluate(demo, demo['checkpoint'], ref_out, capsys)
    model_file = demo['tmp'] / f'model{suffix}'
    export(demo, model_file, capsys)
    out = output_path(demo, f'exported{suffix[1:]}')
    metrics = evaluate(demo, model_file, out, capsys)
    assert_same_predictions(task, predictions(task, out), predictions(task, ref_out))
    assert metrics.keys() == ref_metrics.keys()
    for key, value in ref_metrics.items():
        assert metrics[key] == pytest.approx(value, abs=1e-3), key


def test_a_size_the_file_was_not_exported_for_is_named(tmp_path, capsys):
    model_file = tmp_path / 'small.onnx'
    status, _, output = call_tool('tools/deployment/export.py', [
        REPO_ROOT / DEMOS['cls'][0], 'none', model_file, '--shape', 64, 64], capsys)
    assert status == 0, output[-2000:]
    run = load_exported(model_file)
    assert run.input_shape == (1, 3, 64, 64)
    with pytest.raises(InputError, match=r'takes inputs of 1x3x64x64, got 2x3x96x96: export it '
                       r'with --shape 96 96'):
        run(torch.zeros(2, 3, 96, 96))
    # a batch of several images runs one exported batch at a time
    x = torch.randn(3, 3, 64, 64)
    together = run(x)[0]
    assert together.shape == (3, 4)
    torch.testing.assert_close(together[1:2], run(x[1:2])[0])


@pytest.mark.slow
def test_int8_program_is_calibrated_on_the_train_set_and_evaluates(tmp_path, capsys):
    """int8 (XNNPACK) of the demo classifier: weights stored in a byte each, activation ranges
    from train images (never the test images), the config's metric computed through it."""
    pytest.importorskip('executorch', reason='requirements/deploy.txt')
    demo = make_demo('cls', tmp_path)
    out = tmp_path / 'int8.pte'
    output = export(demo, out, capsys, '--int8', '--calib-images', '5')
    assert 'int8 (calibrated on 5 train images)' in output
    relative = [float(v) for v in re.findall(r'a calibration image: relative diff pte vs '
                                              r'PyTorch (\S+)', output)]
    assert len(relative) == 1 and 0 < relative[0] < 0.2, output[-2000:]
    params = sum(p.numel() for p in demo['model'].backbone.parameters())
    assert out.stat().st_size < 1.5 * params  # float32 would take 4 bytes a weight
    metrics = evaluate(demo, out, tmp_path / 'preds.pkl', capsys)
    with open(tmp_path / 'preds.pkl', 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == demo['splits']['val']
    hits = [int(r['pred_label']) == int(r['gt_label']) for r in dumped]
    assert metrics == {'accuracy/top1': pytest.approx(100 * np.mean(hits), abs=1e-3)}


def test_int8_calibration_needs_a_train_set(tmp_path, capsys):
    config = str(REPO_ROOT / DEMOS['cls'][0])
    status, line, _ = call_tool('tools/deployment/export.py', [
        config, 'none', tmp_path / 'int8.pte', '--int8', '--cfg-options',
        f'data_root={tmp_path / "nowhere"}'], capsys)
    assert status == 1 and line.startswith('error: int8 calibration reads the config\'s train '
                                           'set: '), line
    assert list(tmp_path.iterdir()) == []
