"""A training run killed with SIGKILL and resumed ends exactly where an uninterrupted run ends,
and a kill while a checkpoint is being saved never loses the checkpoints."""
import os
import re
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import METRICS
from torch.utils.data import Dataset

from mvit3_dense.datasets import write_demo_voc
from mvit3_dense.engine import SafeCheckpointRunner
from mvit3_dense.utils.checkpoint import load_checkpoint_file

from ..conftest import REPO_ROOT

CONFIG = 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py'


def train_command(work_dir, data_root, *extra):
    options = [
        f'train_dataloader.dataset.data_root={data_root}', 'train_dataloader.batch_size=2',
        'train_cfg.max_iters=8', 'train_cfg.val_interval=1000', 'val_cfg=None',
        'val_dataloader=None', 'val_evaluator=None', 'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=1', 'default_hooks.logger.interval=1',
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
    # mmengine resumes from the checkpoint that last_checkpoint names; it is there and loads.
    named = Path((killed / 'last_checkpoint').read_text().strip())
    assert load_checkpoint_file(named)['meta']['iter'] in (2, 4)
    latest = int(named.stem.rsplit('_', 1)[1])

    resumed = subprocess.run(train_command(killed, data_root, '--resume'), cwd=REPO_ROOT, env=env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert f'resumed epoch: 0, iter: {latest}' in log
    ours, reference = final_weights(killed), final_weights(full)
    assert ours.keys() == reference.keys()
    for key in reference:
        assert torch.equal(ours[key], reference[key]), key
    assert sorted(p.name for p in killed.glob('*.pth')) == ['iter_8.pth']


# --- SIGKILL while a checkpoint is saved ------------------------------------------------------

MAX_ITERS = 8  # checkpoints at 2, 4, 6, 8; the kills land in the save at iteration 4
KEPT = {1: [8], 2: [6, 8], -1: [2, 4, 6, 8]}
DELAYS = (0.0, 0.005, 0.015, 0.03, 0.06, 0.12)  # seconds after "Saving checkpoint at 4 ..."
PHASES = ('before rename', 'after rename', 'after last_checkpoint')
TEMP_FILE = re.compile(r'^\..+\.[a-z0-9_]{8}\.tmp$')


class Regression(BaseModel):
    """A model with dropout (so the random state matters) and a million-value parameter (so that
    a checkpoint, with its momentum, takes 8 MB and about 0.1 s to save)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 1)
        self.drop = nn.Dropout(0.3)
        self.big = nn.Parameter(torch.randn(1_000_000) * 0.01)

    def forward(self, x, y, mode='loss'):
        pred = self.fc(self.drop(x)).squeeze(1)
        if mode == 'predict':
            return list(pred)
        return dict(loss=((pred - y)**2).mean() + (self.big**2).mean())


class Points(Dataset):

    def __len__(self):
        return 32  # one epoch of 8 batches

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(x=torch.rand(8, generator=g), y=torch.tensor(i / 32))


class PauseAfterSave(Hook):
    """Keeps a run to be killed alive for a while after the save at iteration 4, so that a kill
    timed from that save lands before the run ends even on a busy machine."""

    priority = 'LOWEST'  # after the checkpoint hook

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == 4:
            time.sleep(3.0)


def make_runner(work_dir, max_keep, resume, **extra):
    torch.manual_seed(0)
    checkpoint = dict(type='CheckpointHook', interval=2, by_epoch=False, max_keep_ckpts=max_keep)
    checkpoint.update(extra.pop('checkpoint', {}))
    return SafeCheckpointRunner(
        model=Regression(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=Points(), batch_size=4, collate_fn=dict(type='default_collate'),
                              sampler=dict(type='DefaultSampler', shuffle=True)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS, **extra.pop('train_cfg', {})),
        default_hooks=dict(checkpoint=checkpoint, logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='RNGStateHook')], randomness=dict(seed=0),
        default_scope='mmengine', **extra)


def _kill_self_at(phase):
    """Make this process SIGKILL itself at ``phase`` of the save at iteration 4."""
    replace = os.replace

    def replacing(src, dst):
        dst = str(dst)
        if phase == 'before rename' and dst.endswith('iter_4.pth'):
            os.kill(os.getpid(), signal.SIGKILL)
        replace(src, dst)
        if phase == 'after rename' and dst.endswith('iter_4.pth') or \
                phase == 'after last_checkpoint' and dst.endswith('last_checkpoint') and \
                Path(dst).read_text().endswith('iter_4.pth'):
            os.kill(os.getpid(), signal.SIGKILL)

    os.replace = replacing


def start_training(work_dir, max_keep, resume=False, phase=None, to_be_killed=False):
    """Train in a forked process (a real process to kill, without a new interpreter's start-up);
    returns its pid and a pipe carrying its log."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        status = 1
        try:
            os.close(read)
            sys.stdout = sys.stderr = os.fdopen(write, 'w', buffering=1)
            torch.set_num_threads(1)
            if phase:
                _kill_self_at(phase)
            runner = make_runner(work_dir, max_keep, resume)
            if to_be_killed:
                runner.register_hook(PauseAfterSave())
            runner.train()
            status = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def wait_for(pid, read, kill_after=None, deadline=120.0):
    """The child's log and exit status; with ``kill_after`` (seconds), SIGKILL it that long after
    it logs the save at iteration 4."""
    log, buffer, end = [], b'', time.time() + deadline
    killed_at = None
    while True:
        if killed_at is None and kill_after is not None and b'Saving checkpoint at 4 ' in buffer:
            killed_at = time.time() + kill_after
        timeout = max(0.0, min(end, killed_at or end) - time.time())
        ready, _, _ = select.select([read], [], [], timeout)
        if killed_at is not None and time.time() >= killed_at:
            os.kill(pid, signal.SIGKILL)
            break
        if not ready:
            if time.time() >= end:
                os.kill(pid, signal.SIGKILL)
                break
            continue
        chunk = os.read(read, 65536)
        if not chunk:
            break
        buffer += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return buffer.decode(errors='replace'), status


def run(work_dir, max_keep, resume=False, kill_after=None, phase=None):
    pid, read = start_training(work_dir, max_keep, resume, phase,
                               to_be_killed=kill_after is not None)
    return wait_for(pid, read, kill_after)


def weights(path):
    return load_checkpoint_file(path)['state_dict']


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('uninterrupted')
    log, status = run(work_dir, -1)
    assert status == 0, log[-3000:]
    return weights(work_dir / f'iter_{MAX_ITERS}.pth')


def check_killed_state(work_dir):
    """What a kill left: last_checkpoint names a loadable checkpoint (if any was named)."""
    last = work_dir / 'last_checkpoint'
    files = sorted(p.name for p in work_dir.iterdir() if p.is_file())
    if last.exists():
        named = Path(last.read_text().strip())
        assert named.is_file(), f'last_checkpoint names a missing file; left: {files}'
        assert load_checkpoint_file(named)['meta']['iter'] in (2, 4, 6)
    return files


def resume_and_compare(work_dir, max_keep, reference):
    log, status = run(work_dir, max_keep, resume=True)
    assert status == 0, log[-3000:]
    final = weights(work_dir / f'iter_{MAX_ITERS}.pth')
    assert final.keys() == reference.keys()
    for key in reference:
        assert torch.equal(final[key], reference[key]), key
    names = [p.name for p in work_dir.iterdir()]
    assert not [n for n in names if TEMP_FILE.match(n)], names
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [f'iter_{i}.pth'
                                                             for i in KEPT[max_keep]]
    assert (work_dir / 'last_checkpoint').read_text().endswith(f'iter_{MAX_ITERS}.pth')


@pytest.mark.timeout(300)
@pytest.mark.parametrize('max_keep', [1, 2, -1])
def test_sigkill_during_a_save_loses_no_checkpoint(tmp_path, reference, max_keep):
    """SIGKILL at six delays after "Saving checkpoint", and at each step of the save:
    every trial leaves a loadable checkpoint named by last_checkpoint, resumes, and ends with
    weights bit-identical to the uninterrupted run, the same checkpoints and no temporary file."""
    outcomes = []
    trials = [dict(kill_after=d) for d in DELAYS] + [dict(phase=p) for p in PHASES]
    for i, trial in enumerate(trials):
        work_dir = tmp_path / f'trial{i}'
        log, status = run(work_dir, max_keep, **trial)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, log[-3000:]
        outcomes.append((trial, check_killed_state(work_dir)))
        resume_and_compare(work_dir, max_keep, reference)
    print(f'max_keep_ckpts={max_keep}:', *outcomes, sep='\n  ')


@pytest.mark.parametrize('task', ['cls', 'det', 'seg'])
def test_the_default_runtimes_save_with_the_atomic_hook(tmp_path, task):
    cfg = Config.fromfile(REPO_ROOT / f'configs/_base_/default_runtime_{task}.py')
    assert cfg.runner_type == 'SafeCheckpointRunner'
    runner = make_runner(tmp_path, 2, resume=False)
    hooks = [h for h in runner.hooks if 'Checkpoint' in type(h).__name__]
    assert [type(h).__name__ for h in hooks] == ['AtomicCheckpointHook']
    assert hooks[0].max_keep_ckpts == 2 and hooks[0].interval == 2


@METRICS.register_module()
class RisingScore(BaseMetric):
    """Scores 1, 2, 3, ...: every validation gives a new best checkpoint."""

    calls = 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        RisingScore.calls += 1
        return dict(score=float(RisingScore.calls))


def test_a_new_best_checkpoint_is_saved_before_the_previous_is_removed(tmp_path, monkeypatch):
    events = []
    replace, remove = os.replace, os.remove
    monkeypatch.setattr(os, 'replace', lambda a, b: (events.append(('saved', Path(b).name)),
                                                     replace(a, b))[1])
    monkeypatch.setattr(os, 'remove', lambda a: (events.append(('removed', Path(a).name)),
                                                 remove(a))[1])
    runner = make_runner(
        tmp_path, 1, resume=False, checkpoint=dict(save_best='score', rule='greater'),
        train_cfg=dict(val_interval=4), val_cfg=dict(), val_evaluator=dict(type='RisingScore'),
        val_dataloader=dict(dataset=Points(), batch_size=8, collate_fn=dict(type='default_collate'),
                            sampler=dict(type='DefaultSampler', shuffle=False)))
    runner.train()
    order = [e for e in events if e[1].startswith('best_')]
    assert order == [('saved', 'best_score_iter_4.pth'), ('saved', 'best_score_iter_8.pth'),
                     ('removed', 'best_score_iter_4.pth')]
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['best_score_iter_8.pth',
                                                             'iter_8.pth']
