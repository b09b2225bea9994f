"""Two CPU processes (gloo) train and evaluate a demo config through the torchrun launchers."""
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from mvit3_dense.datasets import write_demo_voc

from ..conftest import REPO_ROOT

CONFIG = REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('dist')
    data = write_demo_voc(tmp / 'voc', {'train': 16, 'val': 6}, size=128)
    dumps = tmp / 'dumps'
    dumps.mkdir()
    # The recipes' SyncBN, trained by two processes.
    config = tmp / 'dist_demo.py'
    config.write_text(
        f"_base_ = ['{CONFIG}']\n"
        "custom_imports = dict(imports=['mvit3_dense', 'mvit3_dense.datasets', "
        "'tests.tools.rank_dump_hook'], allow_failed_imports=False)\n"
        "norm_cfg = dict(type='SyncBN', requires_grad=True)\n"
        "model = dict(backbone=dict(norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg))\n"
        f"custom_hooks = [dict(type='RankDumpHook', out_dir='{dumps}')]\n"
        f"train_dataloader = dict(batch_size=2, dataset=dict(data_root='{data}'))\n"
        f"val_dataloader = dict(batch_size=1, dataset=dict(data_root='{data}'))\n"
        "test_dataloader = val_dataloader\n"
        "train_cfg = dict(max_iters=4, val_interval=1000)\n"
        "default_hooks = dict(checkpoint=dict(interval=4), logger=dict(interval=1))\n"
        "env_cfg = dict(dist_cfg=dict(backend='gloo'))\n")
    env = dict(os.environ, PORT=free_port(), PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PYTHONPATH=str(REPO_ROOT))
    work = tmp / 'work'
    train = subprocess.run(['bash', 'tools/dist_train.sh', str(config), '2', '--work-dir', str(work)],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-3000:]
    return dict(tmp=tmp, config=config, work=work, dumps=dumps, env=env)


def test_both_ranks_end_with_the_same_synchronised_model(run):
    ranks = [torch.load(run['dumps'] / f'rank{r}.pt', weights_only=False) for r in range(2)]
    for key, value in ranks[0]['state_dict'].items():
        assert torch.equal(value, ranks[1]['state_dict'][key]), key
    for rank in ranks:
        assert 'mvit3_dense.models.layers.sync_batchnorm.CPUSyncBatchNorm' in rank['norms']
        assert not any(name.endswith('.BatchNorm2d') for name in rank['norms'])


def test_one_checkpoint_and_one_log(run):
    assert sorted(p.name for p in run['work'].glob('*.pth')) == ['iter_4.pth']
    assert len(list(run['work'].glob('*/*.log'))) == 1


def miou(output):
    return float(re.findall(r'mIoU: ([0-9.]+)', output)[-1])


def test_split_evaluation_equals_single_process(run):
    checkpoint = str(run['work'] / 'iter_4.pth')
    env = dict(run['env'], PORT=free_port())
    split = subprocess.run(['bash', 'tools/dist_test.sh', str(run['config']), checkpoint, '2',
                            '--work-dir', str(run['tmp'] / 'test2')],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert split.returncode == 0, split.stderr[-3000:]
    single = subprocess.run([sys.executable, 'tools/test.py', str(run['config']), checkpoint,
                             '--work-dir', str(run['tmp'] / 'test1')],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    assert miou(split.stdout + split.stderr) == miou(single.stdout + single.stderr)
