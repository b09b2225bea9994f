"""``--launcher pytorch``: the torchrun variables checked, and a gloo process group on machines
without CUDA."""
import os

from mmengine.config import Config

from .errors import InputError

TORCHRUN_VARIABLES = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def check_launcher(cfg: Config) -> None:
    """``--launcher pytorch`` needs the variables torchrun sets; say so instead of a KeyError."""
    if cfg.get('launcher', 'none') != 'pytorch':
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise InputError(
            f'--launcher pytorch needs the variables torchrun sets ({", ".join(missing)} not '
            'set): start with bash tools/dist_train.sh CONFIG GPUS (tools/dist_test.sh CONFIG '
            'CHECKPOINT GPUS), or torchrun --nproc_per_node=GPUS tools/train.py CONFIG --launcher '
            'pytorch; for one process leave --launcher out')


def start_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` run on machines without CUDA (gloo, CPU DDP).

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and hands DDP a device id,
    both of which fail without a GPU. The Runner skips its own set-up when a process group exists,
    so start one with gloo here, and wrap the model in DDP without device ids.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


__all__ = ['TORCHRUN_VARIABLES', 'check_launcher', 'start_cpu_distributed']
