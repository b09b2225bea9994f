"""Safe checkpoint reading and atomic writing.

torch >= 2.6 loads with ``weights_only=True``, which refuses the few non-tensor objects that
mmengine puts into its training checkpoints (message history, numpy scalars). Instead of turning
that protection off, :func:`allow_mmengine_checkpoint_globals` allow-lists exactly those types, so
any other pickled object is still refused.
"""
import io
from pathlib import Path

import numpy as np
import torch

from .atomic_io import atomic_write


def _mmengine_checkpoint_globals():
    from mmengine.logging import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed = [HistoryBuffer, multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
               getattr]
    # numpy >= 1.25 pickles dtypes through their own classes (Float64DType, Int64DType, ...).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        allowed += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return allowed


def allow_mmengine_checkpoint_globals():
    """Let ``torch.load(weights_only=True)`` read checkpoints written by mmengine's Runner."""
    torch.serialization.add_safe_globals(_mmengine_checkpoint_globals())


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used, with the reason and what to do about it."""


def load_checkpoint_file(path):
    """Load a checkpoint with ``weights_only=True`` and turn failures into clear errors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoint_globals()
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except torch.serialization.pickle.UnpicklingError as err:
        raise CheckpointError(
            f'{path} holds objects other than tensors and plain containers, so it is not loaded '
            f'safely ({err}). Re-save it as a plain state_dict.') from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            f'{path} is not a readable PyTorch checkpoint (truncated or corrupt?): {err}. '
            'Download or convert it again.') from err


def extract_state_dict(checkpoint, source='checkpoint'):
    """The tensor dict inside a checkpoint: itself, or under 'state_dict' / 'model'."""
    if isinstance(checkpoint, dict):
        for key in ('state_dict', 'model', 'model_state_dict'):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not checkpoint or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError(f'{source} holds no state_dict (a dict of tensors, possibly under '
                              "'state_dict' or 'model')")
    # Weights saved from DistributedDataParallel carry a 'module.' prefix.
    if all(k.startswith('module.') for k in checkpoint):
        checkpoint = {k[len('module.'):]: v for k, v in checkpoint.items()}
    return checkpoint


def atomic_save(obj, path):
    """``torch.save`` to a temporary file beside ``path``, then rename it into place.

    A process killed while writing leaves the previous file (if any) untouched and no partial
    file under the final name.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(buffer.getvalue(), str(path))
