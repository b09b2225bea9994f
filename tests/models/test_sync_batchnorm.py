"""The CPU SyncBN equals BatchNorm over the whole batch, across processes."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn

from mvit3_dense.models.layers import CPUSyncBatchNorm


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def worker(rank, port, x, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    torch.manual_seed(0)
    norm = CPUSyncBatchNorm(4).train()
    part = x.chunk(2)[rank].clone().requires_grad_(True)
    out = norm(part)
    (out * torch.arange(out.numel()).view_as(out)).sum().backward()
    torch.save(dict(out=out.detach(), grad=part.grad, mean=norm.running_mean,
                    var=norm.running_var), os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_cpu_sync_batchnorm_matches_batchnorm_on_the_whole_batch(tmp_path):
    x = torch.randn(6, 4, 3, 5)
    mp.spawn(worker, args=(free_port(), x, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]

    reference = nn.BatchNorm2d(4).train()
    whole = x.clone().requires_grad_(True)
    out = reference(whole)
    # Each rank weighted its own half from 0; the same weights over the concatenation.
    weights = torch.cat([torch.arange(out.numel() // 2).view_as(out.chunk(2)[0])] * 2)
    (out * weights).sum().backward()
    assert torch.allclose(torch.cat([r['out'] for r in ranks]), out.detach(), atol=1e-5)
    assert torch.allclose(torch.cat([r['grad'] for r in ranks]), whole.grad, atol=1e-4)
    for r in ranks:
        assert torch.allclose(r['mean'], reference.running_mean, atol=1e-6)
        assert torch.allclose(r['var'], reference.running_var, atol=1e-5)
