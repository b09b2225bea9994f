import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from torch.utils.data import Dataset

import mvit3_dense  # noqa: F401
from mvit3_dense.engine import SafeCheckpointRunner
from mvit3_dense.utils.checkpoint import (UnsafeCheckpointError, atomic_save,
                                          load_checkpoint_file)


class LinearModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x, y, mode='loss'):
        return dict(loss=((self.fc(x).squeeze(1) - y)**2).mean())


class Points(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([i / 8, 1.0]), y=torch.tensor(i / 4))


class RecordIters(Hook):

    def __init__(self):
        self.iters = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.iters.append(runner.iter)


def make_runner(work_dir, max_iters, resume=False, hooks=()):
    return SafeCheckpointRunner(
        model=LinearModel(), work_dir=str(work_dir), resume=resume,
        train_dataloader=dict(dataset=Points(), batch_size=4, collate_fn=dict(type='default_collate'),
                              sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        custom_hooks=list(hooks), default_scope='mmengine')


@pytest.fixture(scope='module')
def runner_checkpoint(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('run')
    make_runner(work_dir, 2).train()
    return work_dir / 'iter_2.pth'


def test_plain_torch_refuses_a_runner_checkpoint_even_after_import(runner_checkpoint):
    # torch's weights_only default rejects mmengine's objects, and importing the package does not
    # change that: only the project's own loads read them.
    code = f'import torch, mvit3_dense; torch.load({str(runner_checkpoint)!r})'
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode != 0 and 'HistoryBuffer' in proc.stderr


def test_runner_checkpoint_loads_and_resumes(runner_checkpoint, tmp_path):
    checkpoint = load_checkpoint_file(runner_checkpoint)
    assert checkpoint['meta']['iter'] == 2 and 'message_hub' in checkpoint
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert type(loss) is HistoryBuffer and loss._log_history.shape == (2, )
    record = RecordIters()
    runner = make_runner(tmp_path, 4, resume=True, hooks=[record])
    runner._load_from = str(runner_checkpoint)
    runner.train()
    assert record.iters == [2, 3]


class Payload:
    pass


def test_other_pickled_objects_are_refused(tmp_path):
    path = tmp_path / 'payload.pth'
    torch.save({'state_dict': {}, 'extra': Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match='refused as unsafe: it names '
                       'tests.utils.test_checkpoint.Payload, which is not allowed'):
        load_checkpoint_file(path)


class Unpicklable:

    def __reduce__(self):
        raise RuntimeError('killed while writing')


def test_atomic_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / 'weights.pth'
    atomic_save({'w': torch.ones(3)}, path)
    with pytest.raises(RuntimeError, match='killed while writing'):
        atomic_save({'w': torch.zeros(3), 'bad': Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)['w'], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ['weights.pth']


def test_runner_checkpoints_are_written_atomically(tmp_path, monkeypatch):
    from mmengine.fileio import get_file_backend
    from mmengine.runner.checkpoint import save_checkpoint

    from mvit3_dense.utils.atomic_io import AtomicLocalBackend
    path = tmp_path / 'iter_1.pth'
    assert isinstance(get_file_backend(str(path)), AtomicLocalBackend)
    save_checkpoint({'state_dict': {'w': torch.ones(2)}}, str(path))

    def killed(fd):
        raise KeyboardInterrupt('killed while writing')

    monkeypatch.setattr('os.fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({'state_dict': {'w': torch.zeros(2)}}, str(path))
    monkeypatch.undo()
    assert torch.equal(load_checkpoint_file(path)['state_dict']['w'], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ['iter_1.pth']
