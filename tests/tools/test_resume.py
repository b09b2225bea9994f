"""A training run killed with SIGKILL and resumed ends exactly where an uninterrupted run ends."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from mvit3_dense.datasets import write_demo_voc

from ..conftest import REPO_ROOT

CONFIG = 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py'


def train_command(work_dir, data_root, *extra):
    options = [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=2',
        'train_cfg.max_iters=8', 'train_cfg.val_interval=1000', 'val_cfg=None',
        'val_dataloader=None', 'val_evaluator=None', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=1',
        'randomness.seed=0', 'randomness.deterministic=True']
    return [sys.executable, 'tools/train.py', CONFIG, '--work-dir', str(work_dir), *extra,
            '--cfg-options', *options]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return write_demo_voc(tmp_path_factory.mktemp('data') / 'voc', {'train': 16}, size=128)


def final_weights(work_dir):
    return torch.load(work_dir / 'iter_8.pth', weights_only=False)['state_dict']


@pytest.mark.timeout(600)
def test_killed_run_resumes_exactly(tmp_path, data_root):
    env = dict(os.environ, OMP_NUM_THREADS='1')  # one thread: reproducible float sums
    full = tmp_path / 'full'
    subprocess.run(train_command(full, data_root), cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True)

    killed = tmp_path / 'killed'
    proc = subprocess.Popen(train_command(killed, data_root), cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / 'iter_4.pth').exists():
        assert proc.poll() is None and time.time() < deadline, 'no checkpoint before the kill'
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / 'iter_8.pth').exists()
    # mmengine resumes from the checkpoint that last_checkpoint names.
    latest = int((killed / 'last_checkpoint').read_text().strip().rsplit('_', 1)[1].split('.')[0])

    resumed = subprocess.run(train_command(killed, data_root, '--resume'), cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert f'resumed epoch: 0, iter: {latest}' in log
    ours, reference = final_weights(killed), final_weights(full)
    assert ours.keys() == reference.keys()
    for key in reference:
        assert torch.equal(ours[key], reference[key]), key
