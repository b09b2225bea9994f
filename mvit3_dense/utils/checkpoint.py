"""Checkpoint files: loading that runs no code, checks that name what is wrong, atomic saving.

torch's ``weights_only`` unpickler builds tensors and plain containers and calls only the
functions of an allow-list. mmengine's training checkpoints also hold ``HistoryBuffer`` objects
(whose statistics methods pickle as ``getattr(HistoryBuffer, 'min')``) and numpy arrays, dtypes
and scalars. Allow-listing ``getattr`` would let a pickle reach any attribute of any object (the
``builtins`` module, hence ``exec``), and allow-listing numpy's constructors would hand numpy's
unchecked ``dtype.__setstate__`` (raw flags) to the file. So, for the duration of this project's
own loads only, those few names resolve to stand-ins that accept exactly the forms mmengine
writes, and the real objects are built afterwards from checked values. Outside these loads,
torch's allow-list is left as it was: importing the package widens nothing.
"""
import io
import math
import os
import pickle
import re
import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from .atomic_io import atomic_write

PathLike = Union[str, os.PathLike]
# The script that turns the authors' checkpoints into this project's (named in error messages).
CONVERTER = 'tools/model_converters/cvnets2mmdense.py'


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be used, with the reason and what to do about it."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle asks for more than tensors, containers and mmengine's objects."""


class _Refused(pickle.UnpicklingError):
    """Raised by a stand-in when a pickle calls it in a form mmengine never writes."""


# What the stand-ins accept: the statistics mmengine's HistoryBuffer registers by default, the
# plain numeric numpy dtypes (as numpy pickles them), nothing else.
_STATISTICS = ('min', 'max', 'current', 'mean')
_NUMERIC_DTYPES = frozenset(['b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4',
                             'f8', 'c8', 'c16'])
_HISTORY_KEYS = frozenset(['max_length', '_log_history', '_count_history', 'statistics_methods'])

_STATE = threading.local()
_LOCK = threading.RLock()


def _describe(obj: Any) -> str:
    """A short name for an object on the unpickler's stack (a stand-in by the name it replaces)."""
    pickled = getattr(obj, 'pickled_name', None)
    if isinstance(pickled, str):
        return pickled
    if isinstance(obj, type) or callable(obj):
        name = getattr(obj, '__qualname__', None) or getattr(obj, '__name__', None)
        module = getattr(obj, '__module__', None)
        if isinstance(name, str):
            return f'{module}.{name}' if isinstance(module, str) else name
    return f'a {type(obj).__name__}'


def _session() -> '_LoadSession':
    session = getattr(_STATE, 'session', None)
    if session is None:
        raise _Refused('a checkpoint stand-in was used outside a checkpoint load')
    return session


def _refuse(reason: str):
    session = getattr(_STATE, 'session', None)
    if session is not None and session.refusal is None:
        session.refusal = reason
    raise _Refused(reason)


class _Pending:
    """An object under construction; the real one is built once its state has been checked."""

    def __new__(cls, *args):
        obj = object.__new__(cls)
        obj.state = None
        obj.consumed = False
        _session().pending.append(obj)
        return obj

    def __setstate__(self, state):
        if self.state is not None:
            _refuse(f'it sets the state of a {self.what} twice')
        self.state = self.check(state)

    def build(self, resolve):
        raise NotImplementedError


class _StatisticRef:
    """``getattr(HistoryBuffer, name)`` for one of the default statistics (not callable)."""

    __slots__ = ('name', )

    def __init__(self, name):
        self.name = name


def _getattr_stand_in(owner, name, *rest):
    """Stands in for ``builtins.getattr``: only ``getattr(HistoryBuffer, 'min'|'max'|...)``."""
    if owner is _PendingHistoryBuffer and not rest and type(name) is str and name in _STATISTICS:
        return _StatisticRef(name)
    shown = repr(name) if type(name) is str else _describe(name)
    _refuse(f'it calls getattr({_describe(owner)}, {shown[:60]})')


_getattr_stand_in.pickled_name = 'builtins.getattr'


class _PendingHistoryBuffer(_Pending):
    """Stands in for mmengine's ``HistoryBuffer`` (created empty, then given its state)."""

    what = 'HistoryBuffer'
    pickled_name = 'mmengine.logging.history_buffer.HistoryBuffer'

    def __new__(cls, *args):
        if args:
            _refuse('it calls HistoryBuffer(...) with arguments')
        return super().__new__(cls)

    def check(self, state):
        if type(state) is not dict or not set(state) <= _HISTORY_KEYS or 'max_length' not in state:
            _refuse('it gives a HistoryBuffer a state other than its history and length')
        if type(state['max_length']) is not int or state['max_length'] < 1:
            _refuse('it gives a HistoryBuffer a max_length that is not a positive integer')
        for key in ('_log_history', '_count_history'):
            if type(state.get(key)) is not _PendingArray:
                _refuse(f'it gives a HistoryBuffer a {key} that is not a numpy array')
        methods = state.get('statistics_methods', {})
        if type(methods) is not dict or any(
                type(v) is not _StatisticRef or v.name != k for k, v in methods.items()):
            _refuse('it registers HistoryBuffer statistics other than min, max, current, mean')
        return state

    def build(self, resolve):
        from mmengine.logging import HistoryBuffer
        logs, counts = resolve(self.state['_log_history']), resolve(self.state['_count_history'])
        if logs.ndim != 1 or counts.ndim != 1 or len(logs) != len(counts):
            _refuse('it gives a HistoryBuffer histories that are not two 1-D arrays of one length')
        buffer = HistoryBuffer.__new__(HistoryBuffer)
        buffer.__setstate__(dict(
            max_length=self.state['max_length'], _log_history=logs, _count_history=counts,
            statistics_methods={k: getattr(HistoryBuffer, k)
                                for k in self.state.get('statistics_methods', {})}))
        return buffer


class _PendingDtype(_Pending):
    """Stands in for ``numpy.dtype(code, False, True)`` of a plain numeric type."""

    what = 'numpy dtype'
    pickled_name = 'numpy.dtype'

    def __new__(cls, *args):
        if len(args) != 3 or type(args[0]) is not str or args[0] not in _NUMERIC_DTYPES or \
                args[1] is not False or args[2] is not True:
            code = args[0] if args and type(args[0]) is str else '?'
            _refuse(f'it builds a numpy dtype other than a plain number ({code[:20]!r}); '
                    'object and structured arrays are not loaded')
        obj = super().__new__(cls)
        obj.code = args[0]
        return obj

    def check(self, state):
        # numpy writes (3, byte order, None, None, None, -1, -1, 0) for plain numbers; the
        # flags field in particular must not come from the file.
        if type(state) is not tuple or len(state) != 8 or state[0] != 3 or \
                state[1] not in ('<', '>', '|', '=') or state[2:] != (None, None, None, -1, -1, 0):
            _refuse('it gives a numpy dtype a state other than a byte order')
        return state

    def build(self, resolve):
        if self.state is None:
            _refuse('it leaves a numpy dtype without its byte order')
        dtype = np.dtype(self.code)
        return dtype.newbyteorder(self.state[1]) if self.state[1] in '<>' else dtype


class _NdarrayMarker:
    """Stands in for ``numpy.ndarray``, which a pickle may only name as ``_reconstruct``'s type."""

    pickled_name = 'numpy.ndarray'

    def __call__(self, *args, **kwargs):
        _refuse('it calls numpy.ndarray(...)')


_NDARRAY = _NdarrayMarker()


class _PendingArray(_Pending):
    """Stands in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` + its state."""

    what = 'numpy array'
    pickled_name = 'numpy.core.multiarray._reconstruct'

    def __new__(cls, *args):
        if len(args) != 3 or args[0] is not _NDARRAY or args[1] != (0, ) or args[2] != b'b':
            _refuse('it calls numpy _reconstruct in a form numpy does not write')
        return super().__new__(cls)

    def check(self, state):
        if type(state) is not tuple or len(state) != 5 or state[0] != 1:
            _refuse('it gives a numpy array a state numpy does not write')
        _, shape, dtype, fortran, raw = state
        if type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape) or \
                type(dtype) is not _PendingDtype or type(fortran) is not bool or \
                type(raw) is not bytes:
            _refuse('it gives a numpy array a shape, dtype or data numpy does not write')
        if len(raw) != math.prod(shape) * np.dtype(dtype.code).itemsize:
            _refuse('it gives a numpy array more or fewer bytes than its shape holds')
        return state

    def build(self, resolve):
        if self.state is None:
            _refuse('it leaves a numpy array without its data')
        _, shape, dtype, fortran, raw = self.state
        array = np.frombuffer(raw, dtype=resolve(dtype))
        return array.reshape(shape, order='F' if fortran else 'C').copy(order='K')


def _scalar_stand_in(*args):
    """Stands in for ``numpy.core.multiarray.scalar(dtype, bytes)`` of a plain numeric dtype."""
    if len(args) != 2 or type(args[0]) is not _PendingDtype or type(args[1]) is not bytes:
        _refuse('it calls numpy scalar(...) in a form numpy does not write')
    dtype = args[0].build(None)
    args[0].consumed = True
    if len(args[1]) != dtype.itemsize:
        _refuse('it gives a numpy scalar more or fewer bytes than its dtype holds')
    return np.frombuffer(args[1], dtype=dtype)[0]


_scalar_stand_in.pickled_name = 'numpy.core.multiarray.scalar'


def _stand_ins() -> List[Tuple[Any, str]]:
    """(object, pickled name) pairs that this project's loads add to torch's allow-list."""
    entries = [(_getattr_stand_in, 'builtins.getattr'),
               (_PendingHistoryBuffer, _PendingHistoryBuffer.pickled_name),
               (_NDARRAY, _NDARRAY.pickled_name), (_PendingDtype, _PendingDtype.pickled_name)]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries += [(_PendingArray, f'{module}._reconstruct'),
                    (_scalar_stand_in, f'{module}.scalar')]
    return entries


class _LoadSession:
    """The stand-ins' state during one load: what they created and the first refusal."""

    def __init__(self):
        self.pending: List[_Pending] = []
        self.refusal: Optional[str] = None

    def finish(self, obj: Any) -> Any:
        """Replace every stand-in in ``obj`` by the real object built from its checked state."""
        memo: Dict[int, Any] = {}
        resolved = set()

        def resolve(node):
            key = id(node)
            if key in memo:
                return memo[key]
            if isinstance(node, _Pending):
                memo[key] = value = node.build(resolve)
                resolved.add(key)
                return value
            kind = type(node)
            if kind in (dict, OrderedDict, Counter):
                memo[key] = node
                items = [(resolve(k), resolve(v)) for k, v in node.items()]
                if any(a is not k or b is not v for (a, b), (k, v) in zip(items, node.items())):
                    node.clear()
                    for k, v in items:
                        node[k] = v
                extra = getattr(node, '__dict__', None)  # an OrderedDict's _metadata
                if extra:
                    for k, v in list(extra.items()):
                        extra[k] = resolve(v)
                return node
            if kind is list:
                memo[key] = node
                node[:] = [resolve(v) for v in node]
                return node
            if kind in (tuple, set, frozenset):
                values = [resolve(v) for v in node]
                memo[key] = value = node if all(
                    a is b for a, b in zip(values, node)) else kind(values)
                return value
            memo[key] = node
            return node

        result = resolve(obj)
        left = [p for p in self.pending if id(p) not in resolved and not p.consumed]
        if left:
            _refuse(f'it puts a {left[0].what} where mmengine checkpoints never hold one')
        return result


@contextmanager
def _project_load():
    """Within the block, torch's allow-list is exactly its defaults plus the stand-ins."""
    with _LOCK:
        previous = torch.serialization.get_safe_globals()
        session = _LoadSession()
        _STATE.session = session
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(_stand_ins())
        try:
            yield session
        finally:
            torch.serialization.clear_safe_globals()
            torch.serialization.add_safe_globals(previous)
            _STATE.session = None


_TORCH_ADVICE = re.compile(r'\s*(Please use `torch\.serialization|\(1\) |Check the documentation'
                           r'|WeightsUnpickler error: |Weights only load failed\.|In PyTorch 2\.6)')
_SIGNATURES = ((b'\x89PNG', 'a PNG image'), (b'\xff\xd8\xff', 'a JPEG image'),
               (b'GIF8', 'a GIF image'), (b'\x1f\x8b', 'a gzip archive'),
               (b'%PDF', 'a PDF document'), (b'<', 'an HTML or XML page (a failed download?)'),
               (b'{', 'a JSON file'), (b'\x08', 'a protobuf file (ONNX?)'))


_TORCH_REFUSALS = (
    (re.compile(r'GLOBAL (\S+) whose module (\S+) is blocked'), 'it names {0} (module {1})'),
    (re.compile(r'GLOBAL (\S+) was not an allowed global'), 'it names {0}, which is not allowed'),
    (re.compile(r'call reduce for unrecognized function (.+?)(?: which belongs|$)'),
     'it calls {0}'),
    (re.compile(r'Can only build .* but got (.+)$'), 'it sets the state of {0}'),
    (re.compile(r'Can only create new object .* but got (.+)$'), 'it creates {0}'),
)


def _unpickler_reason(err: BaseException) -> str:
    """What torch's unpickler refused, in a few words (without its advice to load unsafely)."""
    cause = err.__context__ if isinstance(err.__context__, pickle.UnpicklingError) else err
    text = ' '.join(str(cause).split()).split('WeightsUnpickler error: ', 1)[-1]
    for pattern, template in _TORCH_REFUSALS:
        found = pattern.search(text)
        if found:
            return template.format(*(g[:120] for g in found.groups())).rstrip(' .')
    cut = _TORCH_ADVICE.search(text)
    text = text[:cut.start()] if cut and cut.start() > 0 else text
    if 'weights_only' in text or not text:
        text = type(cause).__name__
    return text[:200].rstrip(' .')


def _unreadable(name: str, detail: str) -> CheckpointError:
    return CheckpointError(f'{name} is not a readable PyTorch checkpoint (truncated or corrupt?): '
                           f'{detail}. Download, convert or save it again.')


def _unsafe(name: str, reason: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(
        f'{name} is refused as unsafe: {reason}. Only tensors, plain containers and the objects '
        'of mmengine training checkpoints are loaded; get the file from a trusted source, or '
        'load it as a plain state_dict (a dict of tensors) saved from a trusted copy.')


def _check_signature(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f'checkpoint not found: {path}')
    if path.is_dir():
        raise CheckpointError(f'{path} is a folder, not a checkpoint file')
    if path.stat().st_size == 0:
        raise CheckpointError(f'{path} is empty (0 bytes): the save or download did not finish. '
                              'Save, download or convert it again.')
    with open(path, 'rb') as f:
        head = f.read(8)
    if head.startswith(b'PK') or head.startswith(b'\x80') or path.suffix == '.safetensors':
        return  # a torch zip archive, or a legacy torch pickle
    kind = next((what for sig, what in _SIGNATURES if head.startswith(sig)),
                f'it starts with the bytes {head.hex(" ")}')
    raise CheckpointError(f'{path} is not a PyTorch checkpoint ({kind}). Pass the .pth file '
                          'written by training or by the converter.')


def _load_safely(load, name: str) -> Any:
    """Run ``load()`` (which calls ``torch.load``) with the stand-ins; failures name ``name``."""
    refusal = None
    try:
        with _project_load() as session:
            try:
                return session.finish(load())
            finally:
                refusal = session.refusal
    except CheckpointError:
        raise
    except (EOFError, OSError) as err:
        raise _unreadable(name, f'{type(err).__name__}: {err}' if str(err) else
                          'the file ends early') from None
    except RecursionError:
        raise _unsafe(name, 'it nests containers deeper than any checkpoint') from None
    except Exception as err:  # noqa: BLE001  whatever the pickle's calls raised
        text = ' '.join(str(err).split())
        if refusal is None and isinstance(err, RuntimeError) and (
                'PytorchStreamReader' in text or 'zip archive' in text):
            raise _unreadable(name, text.split('. ')[0][:200]) from None
        if refusal is None and 'TorchScript' in text:
            refusal = 'it is a TorchScript archive, which holds code'
        if refusal is None:
            refusal = (_unpickler_reason(err) if isinstance(err, pickle.UnpicklingError) else
                       f'building its objects fails ({type(err).__name__}: {text[:150]})')
        raise _unsafe(name, refusal) from None


def torch_load_safely(source: Union[PathLike, io.BytesIO], map_location: Any = 'cpu',
                      name: Optional[str] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` that also reads mmengine's training checkpoints.

    Raises :class:`UnsafeCheckpointError` (never running anything) for any other pickled object,
    and :class:`CheckpointError` with the file's name for unreadable files.
    """
    return _load_safely(lambda: torch.load(source, map_location=map_location, weights_only=True),
                        name or str(source))


_REMOTE = re.compile(r'^[a-z][a-z0-9+.-]*://')


def load_runner_checkpoint(filename: str, map_location: Any = 'cpu') -> Any:
    """A checkpoint for mmengine's Runner, read safely: a local file, or the bytes of a URL
    (``http(s)://``, ``s3://``, ... as mmengine's file backends fetch them)."""
    filename = str(filename)
    if not _REMOTE.match(filename):
        return load_checkpoint_file(filename, map_location)
    from mmengine.fileio import get
    try:
        data = get(filename)
    except Exception as err:  # noqa: BLE001  no backend for the scheme, network errors, ...
        raise CheckpointError(f'cannot fetch {filename} ({type(err).__name__}: '
                              f'{" ".join(str(err).split())[:200]}); download it and pass the '
                              'local file') from None
    return torch_load_safely(io.BytesIO(data), map_location, name=filename)


def load_checkpoint_file(path: PathLike, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file safely (see :func:`torch_load_safely`); failures name the file."""
    path = Path(path)
    _check_signature(path)
    return torch_load_safely(path, map_location, name=str(path))


def extract_state_dict(checkpoint: Any, source: str = 'checkpoint') -> Dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint (itself, or under 'state_dict' / 'model'), checked to
    hold finite numbers only."""
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
    check_finite(checkpoint, source)
    return checkpoint


def check_finite(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or infinite values, naming how many and where."""
    bad = [(k, v) for k, v in state_dict.items() if isinstance(v, torch.Tensor) and
           (v.is_floating_point() or v.is_complex()) and not bool(torch.isfinite(v).all())]
    if bad:
        key, value = bad[0]
        nans = int(torch.isnan(value).sum())
        raise CheckpointError(
            f'{source} holds NaN or infinite weights in {len(bad)} tensors (e.g. {key}: {nans} '
            f'NaN, {int((~torch.isfinite(value)).sum()) - nans} infinite of {value.numel()}): '
            'the training diverged or the file is damaged. Use an earlier checkpoint.')


def check_weights_fit(model_state: Mapping[str, torch.Tensor],
                      weights: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights that do not fill the model exactly, naming the first mismatches."""
    missing = [k for k in model_state if k not in weights]
    unexpected = [k for k in weights if k not in model_state]
    shapes = [k for k in model_state if k in weights and
              tuple(weights[k].shape) != tuple(model_state[k].shape)]
    if not (missing or unexpected or shapes):
        return
    parts = []
    if shapes:
        k = shapes[0]
        parts.append(f'{len(shapes)} of another shape (e.g. {k}: {tuple(weights[k].shape)} in '
                     f'the file, {tuple(model_state[k].shape)} in the model)')
    if missing:
        parts.append(f'{len(missing)} missing from the file (e.g. {missing[0]})')
    if unexpected:
        parts.append(f'{len(unexpected)} in the file that the model does not have '
                     f'(e.g. {unexpected[0]})')
    raise CheckpointError(
        f'{source} does not fit this model ({len(model_state)} tensors): {"; ".join(parts)}. '
        'It was saved from another model or variant: pass a checkpoint of this config (or the '
        'config the checkpoint was trained with).')


def model_weights(checkpoint: Any, source: str,
                  revise_keys: Tuple[Tuple[str, str], ...] = ((r'^module\.', ''), )
                  ) -> Dict[str, torch.Tensor]:
    """The model weights of a loaded checkpoint, keys revised as mmengine's loader does."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f'{source} holds no state_dict (a dict of tensors)')
    for pattern, replacement in revise_keys:
        state = OrderedDict((re.sub(pattern, replacement, k), v) for k, v in state.items())
    return state


def load_model_weights(model: torch.nn.Module, path: PathLike) -> Any:
    """Load a checkpoint file into ``model`` strictly; returns the loaded checkpoint.

    The weights must fill the model exactly and be finite; otherwise :class:`CheckpointError`
    names the mismatch.
    """
    checkpoint = load_checkpoint_file(path)
    weights = model_weights(checkpoint, str(path))
    check_weights_fit(model.state_dict(), weights, str(path))
    check_finite(weights, str(path))
    model.load_state_dict(weights, strict=True)
    return checkpoint


def atomic_save(obj: Any, path: PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place.

    A process killed while writing leaves the previous file (if any) untouched and no partial
    file under the final name.
    """
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write(buffer.getvalue(), str(path))
