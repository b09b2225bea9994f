"""Exported models run by their runtimes: ONNX Runtime (``.onnx``) and ExecuTorch (``.pte``).

:func:`load_exported` gives one call signature for both, ``run(x) -> tuple of tensors``, so the
parity checks, the latency table and the evaluation of an exported model
(:class:`mvit3_dense.utils.exported_model.ExportedModel`) do not care which runtime is behind it.
"""
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .errors import InputError

RUNTIMES = {'.onnx': 'onnxruntime', '.pte': 'executorch'}

RunExported = Callable[[Tensor], Tuple[Tensor, ...]]


class ExportedRun:
    """``run(x)``: an exported model's outputs for the batch ``x`` as a tuple of tensors.

    ``input_shape`` is the input shape the file was exported for, ``None`` for each symbolic
    dimension (ONNX ``--dynamic``); a batch whose size the file does not take is run in pieces
    of the exported batch size.
    """

    def __init__(self, call: RunExported, input_shape: Tuple[Optional[int], ...], path: Path):
        self.call = call
        self.input_shape = input_shape
        self.path = path

    def __call__(self, x: Tensor) -> Tuple[Tensor, ...]:
        expected = self.input_shape
        if len(expected) != x.dim() or any(
                e is not None and e != a for e, a in zip(expected[1:], x.shape[1:])):
            shown = 'x'.join('?' if e is None else str(e) for e in expected)
            raise InputError(f'{self.path} takes inputs of {shown}, got '
                             f'{"x".join(map(str, x.shape))}: export it with --shape '
                             f'{x.shape[-2]} {x.shape[-1]} (the size this config\'s test '
                             'pipeline gives)')
        step = expected[0]
        if step is None or step == len(x):
            return self.call(x)
        if len(x) % step:
            raise InputError(f'{self.path} takes batches of {step}; a batch of {len(x)} does not '
                             'split into them: set the test dataloader\'s batch_size to a '
                             f'multiple of {step}')
        pieces = [self.call(x[i:i + step]) for i in range(0, len(x), step)]
        return tuple(torch.cat(outputs) for outputs in zip(*pieces))


def runtime_of(path: Union[str, Path]) -> str:
    """The runtime that runs ``path``, from its suffix, or :class:`InputError`."""
    suffix = Path(path).suffix
    if suffix not in RUNTIMES:
        raise InputError(f'{path}: unknown model file type {suffix!r}. Pass an ONNX model '
                         '(.onnx, tools/deployment/export.py) or an ExecuTorch program '
                         '(.pte, tools/deployment/export_executorch.py).')
    return RUNTIMES[suffix]


def _onnxruntime_session(path: Path, threads: int) -> ExportedRun:
    try:
        import onnxruntime
    except ImportError as error:
        raise InputError(f'{path} is an ONNX model, but onnxruntime is not installed: '
                         'pip install onnxruntime') from error
    options = onnxruntime.SessionOptions()
    # Idle threads sleep instead of spinning, so that a run timed next to another engine (the
    # interleaved latency table) does not lose the cores to this session's waiting threads.
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    node = session.get_inputs()[0]

    def run(x: Tensor) -> Tuple[Tensor, ...]:
        outputs = session.run(None, {node.name: x.detach().contiguous().numpy()})
        return tuple(torch.from_numpy(out) for out in outputs)

    shape = tuple(d if isinstance(d, int) else None for d in node.shape)
    return ExportedRun(run, shape, path)


def _executorch_method(path: Path) -> ExportedRun:
    try:
        from executorch.runtime import Runtime
    except ImportError as error:
        raise InputError(f'{path} is an ExecuTorch program, but executorch is not installed: '
                         'pip install -r requirements/deploy.txt -c requirements/runtime.txt') from error
    method = Runtime.get().load_program(path).load_method('forward')

    def run(x: Tensor) -> Tuple[Tensor, ...]:
        return tuple(method.execute([x.detach().contiguous()]))

    shape = tuple(method.metadata.input_tensor_meta(0).sizes())
    return ExportedRun(run, shape, path)


def load_exported(path: Union[str, Path], threads: int = 0) -> ExportedRun:
    """The exported model at ``path`` as :class:`ExportedRun`: ``run(x)`` gives its outputs for
    the input batch ``x`` (N, 3, H, W, the normalised image) as a tuple of tensors.

    Args:
        path: ``.onnx`` (ONNX Runtime, CPU) or ``.pte`` (ExecuTorch with the delegates the program
            was lowered to, e.g. XNNPACK).
        threads: ONNX Runtime's intra-op threads (0: its default, one per core). ExecuTorch's
            XNNPACK threadpool sizes itself to the cores.
    """
    path = Path(path)
    runtime = runtime_of(path)
    if not path.is_file():
        raise InputError(f'{path}: no such model file. Export one first with '
                         'tools/deployment/export.py or export_executorch.py.')
    if runtime == 'onnxruntime':
        return _onnxruntime_session(path, threads)
    return _executorch_method(path)


def relative_differences(ours: Sequence[Tensor], reference: Sequence[Tensor]) -> Tuple[float, float]:
    """The largest absolute difference over all outputs, and the largest difference relative to
    the magnitude of its output (max |a - b| / max |b|)."""
    if len(ours) != len(reference):
        raise ValueError(f'{len(ours)} outputs against {len(reference)}')
    diffs = [(a.float() - b.float()).abs().max() for a, b in zip(ours, reference)]
    absolute = max(float(d) for d in diffs)
    relative = max(float(d / b.abs().max().clamp(min=1e-12)) for d, b in zip(diffs, reference))
    return absolute, relative


def exported_differences(run: ExportedRun, wrapper: torch.nn.Module, x: Tensor
                         ) -> Tuple[float, float]:
    """:func:`relative_differences` of an exported model's outputs for ``x`` against PyTorch's
    (``wrapper``, the module that was exported)."""
    with torch.no_grad():
        reference = wrapper.eval()(x)
    reference = reference if isinstance(reference, (tuple, list)) else (reference, )
    return relative_differences(run(x), reference)
