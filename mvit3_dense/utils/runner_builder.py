"""The Runner behind ``tools/train.py`` and ``tools/test.py``, for every task.

The config's ``default_scope`` (mmseg, mmdet, ...) decides the task; mmengine's Runner does the
rest. The Runner is ``SafeCheckpointRunner`` (``mvit3_dense/engine/runner.py``): checkpoint loads
that run no code and are strict when testing or resuming, checkpoint saves that a kill cannot
lose. Single-process runs need nothing here for SyncBN: mmengine's Runner reverts it to BN when
the run is not distributed.
"""
from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

from ..engine import SafeCheckpointRunner
from .launcher import check_launcher, start_cpu_distributed


def build_runner(cfg: Config) -> Runner:
    """The Runner of ``cfg`` in the config's scope: ``runner_type`` if set, else
    :class:`~mvit3_dense.engine.SafeCheckpointRunner` (safe, strict checkpoint loads)."""
    check_launcher(cfg)
    start_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        init_default_scope(cfg.get('default_scope'))
        return RUNNERS.build(cfg)
    return SafeCheckpointRunner.from_cfg(cfg)


__all__ = ['build_runner']
