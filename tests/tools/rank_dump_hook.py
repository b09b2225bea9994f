"""A hook for the distributed test: each rank saves its final weights and its norm layer types."""
import os

import torch
import torch.distributed as dist
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankDumpHook(Hook):

    def __init__(self, out_dir):
        self.out_dir = out_dir

    def after_run(self, runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        rank = dist.get_rank() if dist.is_initialized() else 0
        norms = sorted({type(m).__module__ + '.' + type(m).__name__ for m in model.modules()
                        if 'Norm' in type(m).__name__})
        torch.save(dict(state_dict=model.state_dict(), norms=norms),
                   os.path.join(self.out_dir, f'rank{rank}.pt'))
