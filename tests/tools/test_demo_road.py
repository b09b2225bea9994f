"""The demo takes the road of tools/train.py and tools/test.py: one data_root moves every path,
the untrained and the trained model are evaluated, the console shows a short screen while the
full log stays in the work dir, pictures are drawn, and a demo training resumes."""
import io
import runpy
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mvit3_dense.datasets import write_demo_coco, write_demo_imagenet, write_demo_voc
from mvit3_dense.utils.config_loader import load_config, move_data_root
from mvit3_dense.engine import ProgressLineHook

from ..conftest import REPO_ROOT

DEMOS = {
    'cls': REPO_ROOT / 'configs/demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py',
    'seg': REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py',
    'det': REPO_ROOT / 'configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py',
}
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _strings(value)


def _roots(cfg):
    from mvit3_dense.utils.input_checks import leaf_datasets
    return [d['data_root'] for key in LOADERS for d in leaf_datasets(cfg[key]['dataset'])]


@pytest.mark.parametrize('task', sorted(DEMOS))
def test_data_root_option_moves_every_path(task, tmp_path):
    cfg = load_config(str(DEMOS[task]), {'data_root': str(tmp_path / 'elsewhere')})
    assert not [s for s in _strings(cfg.to_dict()) if 'data/demo' in s]
    assert {r.rstrip('/') for r in _roots(cfg)} == {str(tmp_path / 'elsewhere')}
    if task == 'det':
        for key in ('val_evaluator', 'test_evaluator'):
            assert cfg[key].ann_file == str(tmp_path / 'elsewhere/annotations/instances_val.json')


def test_explicit_options_win_over_the_moved_paths(tmp_path):
    cfg = load_config(str(DEMOS['det']),
                      {'data_root': 'new/', 'val_evaluator.ann_file': 'mine.json'})
    assert cfg.val_evaluator.ann_file == 'mine.json'
    assert cfg.test_evaluator.ann_file == 'new/annotations/instances_val.json'
    assert cfg.train_dataloader.dataset.data_root == 'new/'


def test_move_data_root_moves_only_paths_inside_the_old_folder():
    cfg = Config(dict(data_root='d/r', a=dict(p='d/r/x', q='d/rx', r='d/r'),
                      b=['d/r/y', ('d/r/z', 3)], c='other/d/r/x'))
    move_data_root(cfg, '/new')
    assert cfg.to_dict() == dict(data_root='/new', a=dict(p='/new/x', q='d/rx', r='/new'),
                                 b=['/new/y', ('/new/z', 3)], c='other/d/r/x')
    no_root = Config(dict(a='d/r/x'))
    move_data_root(no_root, '/new')
    assert no_root.to_dict() == dict(a='d/r/x')


class _Runner:
    def __init__(self, max_iters, start=0):
        self.iter, self.max_iters = start, max_iters


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_every_interval_and_at_the_end():
    stream = io.StringIO()
    hook, runner = ProgressLineHook(stream, interval=10), _Runner(25)
    hook.before_train(runner)
    for i in range(25):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs={'loss': torch.tensor(1.0 / (i + 1))})
    lines = stream.getvalue().splitlines()
    assert [line.split('  loss')[0] for line in lines] == ['  train 10/25', '  train 20/25',
                                                           '  train 25/25']
    assert lines[0].startswith('  train 10/25  loss 0.1000  ') and lines[0].endswith(' s left')
    assert lines[2].startswith('  train 25/25  loss 0.0400  0 s left')

    terminal = _Terminal()
    hook = ProgressLineHook(terminal, interval=2)
    runner = _Runner(4)
    hook.before_train(runner)
    for i in range(4):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs={})
    hook.after_train(runner)
    text = terminal.getvalue()
    assert text.count('\r') == 2 and text.endswith('\n') and text.count('\n') == 1
    with pytest.raises(ValueError, match='interval must be >= 1'):
        ProgressLineHook(io.StringIO(), interval=0)


@pytest.fixture(scope='module')
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo_data')
    write_demo_imagenet(root / 'imagenet', {'train': 8, 'val': 4}, size=96)
    write_demo_voc(root / 'voc', {'train': 4, 'val': 3}, size=128)
    write_demo_coco(root / 'coco', {'train': 4, 'val': 2}, size=160)
    return root


def _run_demo():
    return runpy.run_path(str(REPO_ROOT / 'tools/demo/run_demo.py'))['run_demo']


# task -> (metric keys of the evaluation, pictures drawn of the val images).
EXPECTED = {'cls': ({'accuracy/top1'}, 1), 'seg': ({'aAcc', 'mIoU', 'mAcc'}, 3),
            'det': ({'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'}, 2)}


@pytest.mark.parametrize('task', ['cls', 'det'])
def test_demo_evaluates_trains_evaluates_and_draws(task, demo_data, tmp_path, capsys):
    screen = io.StringIO()
    result = _run_demo()(str(DEMOS[task]), str(tmp_path), data_out=str(demo_data),
                         cfg_options={'train_cfg.max_iters': 2}, stream=screen)
    _check_demo(task, result, screen.getvalue(), capsys.readouterr().out, iters=2)


def _check_demo(task, result, screen, console, iters):
    keys, pictures = EXPECTED[task]
    assert keys <= set(result['before']) and keys <= set(result['after'])
    assert set(result['times']) == {'data', 'eval untrained', 'train', 'eval trained', 'total'}
    log = Path(result['log'])
    text = log.read_text()
    assert f'Saving checkpoint at {iters} iterations' in text
    assert 'System environment' in text
    assert len(result['pictures']) == pictures and all(p.stat().st_size for p in result['pictures'])
    lines = screen.splitlines()
    assert lines[1].endswith(f'demo: {DEMOS[task]}')
    assert lines[2].startswith('data      ') and ' images (already there, ' in lines[2]
    assert lines[4].startswith(f'before    {result["metric"]} ')
    assert f'  train {iters}/{iters}  loss ' in screen
    assert f'pictures  {pictures} predictions drawn in ' in screen
    # mmengine's own output (config, environment, iteration records) is in the log file only.
    for console_text in (screen, console):
        assert 'Saving checkpoint' not in console_text
        assert 'System environment' not in console_text
    # The demo trained by the road of tools/train.py: its config carries the RNG-state hook.
    train_cfg = Config.fromfile(next((result['work_dir'] / 'train').glob('*.py')))
    assert {'type': 'RNGStateHook'} in train_cfg.custom_hooks
    checkpoint = torch.load(result['work_dir'] / 'train' / f'iter_{iters}.pth',
                            map_location='cpu', weights_only=False)
    assert 'rng_state' in checkpoint


def test_demo_resumes_its_training_through_the_rng_hook(demo_data, tmp_path, capsys):
    run_demo = _run_demo()
    first = run_demo(str(DEMOS['seg']), str(tmp_path), data_out=str(demo_data),
                     cfg_options={'train_cfg.max_iters': 2}, stream=io.StringIO())
    checkpoint = torch.load(first['work_dir'] / 'train' / 'iter_2.pth', map_location='cpu',
                            weights_only=False)
    assert set(checkpoint['rng_state']) >= {'torch'}
    screen = io.StringIO()
    second = run_demo(str(DEMOS['seg']), str(tmp_path), data_out=str(demo_data),
                      cfg_options={'train_cfg.max_iters': 4}, resume=True, stream=screen)
    _check_demo('seg', second, screen.getvalue(), capsys.readouterr().out, iters=4)
    text = Path(second['log']).read_text()
    assert 'resumed epoch: 0, iter: 2' in text and 'iter_2.pth' in text
