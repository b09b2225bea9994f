"""No checkpoint may run code: hostile pickles through the project's loader and plain torch.load.

The tools' entry points are in test_tool_entry_points.py.
"""
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import _weights_only_unpickler as torch_unpickler

import mvit3_dense  # noqa: F401  (importing must not widen what torch.load accepts)
from mvit3_dense.utils import checkpoint as ckpt
from mvit3_dense.utils.checkpoint import (CheckpointError, UnsafeCheckpointError,
                                          load_checkpoint_file)

from ..conftest import REPO_ROOT
from .payloads import (GETATTR, HISTORY, NP_DTYPE, NP_NDARRAY, NP_RECONSTRUCT, NP_SCALAR,
                       PLAIN_DTYPE_STATE, REBUILD, TENSOR, Build, Call, Global, NewObj, Raw,
                       allow_list_probes, attack_payloads, placements, save_payload)


def effective_allow_list():
    """Everything torch's unpickler accepts during one of the project's loads."""
    with ckpt._project_load():
        return {**torch_unpickler._get_allowed_globals(),
                **torch_unpickler._get_user_allowed_globals()}


def write_family(folder, payloads):
    """[(name, placement, path)], the markers in folder/markers."""
    markers = folder / 'markers'
    markers.mkdir(parents=True, exist_ok=True)
    files = []
    for i, (name, node) in enumerate(payloads(markers / 'ran').items()):
        for j, (where, wrapped) in enumerate(placements(node).items()):
            files.append((name, where, save_payload(wrapped, folder / f'p{i:03d}_{j}.pth')))
    return files, markers


@pytest.fixture(scope='module')
def attacks(tmp_path_factory):
    return write_family(tmp_path_factory.mktemp('attacks'), attack_payloads)


@pytest.fixture(scope='module')
def probes(tmp_path_factory):
    allowed = effective_allow_list()
    return write_family(tmp_path_factory.mktemp('probes'),
                        lambda marker: allow_list_probes(allowed, marker))


def test_importing_the_package_widens_nothing():
    # torch's own submodules (distributed tensors, nested tensors, ...) register their types as
    # the libraries import them; the package itself registers nothing.
    code = ('import torch, mmengine, mmseg, mmdet, mmpretrain, mmseg.models, mmdet.models, '
            'mmpretrain.models\n'
            'before = set(torch.serialization.get_safe_globals())\n'
            'import mvit3_dense\n'
            'after = set(torch.serialization.get_safe_globals())\n'
            'print(sorted(map(str, after - before)), getattr in after)')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ours = [g for g in torch.serialization.get_safe_globals()
            if str(getattr(g, '__module__', '')).startswith(('mvit3_dense', 'numpy', 'mmengine'))]
    assert proc.stdout.split('\n')[0] == '[] False' and ours == []


def test_the_allow_list_holds_no_getattr_and_is_scoped(tmp_path):
    allowed = effective_allow_list()
    assert getattr not in allowed.values() and allowed['builtins.getattr'] is not getattr
    assert not any(v in (eval, exec, __import__, np.ndarray, np.dtype) for v in allowed.values())
    before = torch.serialization.get_safe_globals()
    torch.save({'w': torch.ones(2)}, tmp_path / 'plain.pth')
    load_checkpoint_file(tmp_path / 'plain.pth')
    after = torch.serialization.get_safe_globals()
    assert set(map(id, after)) == set(map(id, before)) and getattr not in after


def test_the_callers_own_allow_list_is_restored(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'w': torch.ones(2)}, path)
    before = torch.serialization.get_safe_globals()
    torch.serialization.add_safe_globals([OrderedDict])
    try:
        load_checkpoint_file(path)
        assert OrderedDict in torch.serialization.get_safe_globals()
    finally:
        torch.serialization.clear_safe_globals()
        torch.serialization.add_safe_globals(before)


def test_every_attack_is_refused_and_runs_nothing(attacks):
    files, markers = attacks
    for name, where, path in files:
        with pytest.raises(UnsafeCheckpointError) as caught:
            load_checkpoint_file(path)
        message = str(caught.value)
        assert message.startswith(f'{path} is refused as unsafe: '), (name, where, message)
        assert '\n' not in message and 'weights_only' not in message, message
    assert list(markers.iterdir()) == []


def test_every_callable_on_the_allow_list_runs_nothing(probes):
    """Each callable the unpickler may call, probed with code, through _rebuild_from_type_v2 and
    as a stand-in for getattr: nothing runs; whatever loads holds no callable."""
    files, markers = probes
    refused = 0
    for name, where, path in files:
        try:
            loaded = load_checkpoint_file(path)
        except UnsafeCheckpointError:
            refused += 1
            continue
        stack = [loaded]
        while stack:
            node = stack.pop()
            assert not callable(node) or isinstance(node, torch.Tensor), (name, where, node)
            if isinstance(node, dict):
                stack += list(node.values())
            elif isinstance(node, (list, tuple, set)):
                stack += list(node)
    assert list(markers.iterdir()) == []
    assert refused >= len(files) * 3 // 4


def test_plain_torch_load_after_import_runs_nothing(attacks, probes):
    paths = [str(p) for _, _, p in attacks[0] + probes[0]]
    code = ('import sys, torch, mvit3_dense\n'
            'loaded = []\n'
            'for path in sys.argv[1:]:\n'
            '    try:\n'
            '        torch.load(path)\n'
            '        loaded.append(path)\n'
            '    except Exception:\n'
            '        pass\n'
            'print("\\n".join(loaded))\n')
    proc = subprocess.run([sys.executable, '-c', code, *paths], cwd=REPO_ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    attack_paths = {str(p) for _, _, p in attacks[0]}
    assert not attack_paths & set(proc.stdout.split())
    assert list(attacks[1].iterdir()) == [] and list(probes[1].iterdir()) == []


# --- the stand-ins accept exactly what mmengine writes ----------------------------------------


def load_node(tmp_path, node):
    return load_checkpoint_file(save_payload(node, tmp_path / 'case.pth'))


def array(code, data, shape=(1, ), state=PLAIN_DTYPE_STATE):
    dtype = Build(Call(NP_DTYPE, (code, False, True)), state)
    return Build(Call(NP_RECONSTRUCT, (NP_NDARRAY, (0, ), Raw(b'b'))),
                 (1, shape, dtype, False, Raw(data)))


def history(**state):
    base = dict(max_length=5, _log_history=array('f8', np.float64([1.5, 2.5]).tobytes(), (2, )),
                _count_history=array('i8', np.int64([1, 1]).tobytes(), (2, )))
    base.update(state)
    return Build(NewObj(HISTORY), {k: v for k, v in base.items() if v is not None})


def test_history_buffer_in_mmengine_form_loads(tmp_path):
    from mmengine.logging import HistoryBuffer
    methods = {name: Call(GETATTR, (HISTORY, name)) for name in ('min', 'max', 'current', 'mean')}
    loaded = load_node(tmp_path, {'loss': history(statistics_methods=methods)})['loss']
    assert type(loaded) is HistoryBuffer and loaded.mean() == 2.0 and loaded.max_length == 5
    assert loaded._log_history.dtype == np.float64 and loaded._log_history.flags.writeable
    assert HistoryBuffer._statistics_methods['mean'] is HistoryBuffer.mean


@pytest.mark.parametrize('case', [
    dict(statistics_methods={'mean': Call(GETATTR, (HISTORY, 'statistics'))}),
    dict(statistics_methods={'max': Call(GETATTR, (HISTORY, 'min'))}),
    dict(statistics_methods={'mean': GETATTR}),
    dict(extra=1),
    dict(max_length='5'),
    dict(_log_history=[1.5, 2.5]),
    dict(_count_history=array('i8', np.int64([1]).tobytes(), (1, ))),
])
def test_history_buffer_in_other_forms_is_refused(tmp_path, case):
    from mmengine.logging import HistoryBuffer
    before = dict(HistoryBuffer._statistics_methods)
    with pytest.raises(UnsafeCheckpointError, match='refused as unsafe: it '):
        load_node(tmp_path, {'loss': history(**case)})
    assert HistoryBuffer._statistics_methods == before


@pytest.mark.parametrize('name', ['__init__', '__class__', 'register_statistics', 'statistics',
                                  '_set_default_statistics', '__dict__'])
def test_getattr_other_than_a_statistic_is_refused(tmp_path, name):
    with pytest.raises(UnsafeCheckpointError, match=r'it calls getattr\(mmengine'):
        load_node(tmp_path, Call(GETATTR, (HISTORY, name)))


@pytest.mark.parametrize('code', ['b1', 'u1', 'i4', 'i8', 'f2', 'f4', 'f8', 'c16'])
def test_plain_numpy_arrays_and_scalars_load(tmp_path, code):
    expected = np.arange(6).astype(code).reshape(2, 3)
    state = (3, '|' if expected.itemsize == 1 else '<') + PLAIN_DTYPE_STATE[2:]
    dtype = Build(Call(NP_DTYPE, (code, False, True)), state)
    loaded = load_node(tmp_path, {'a': array(code, expected.tobytes(), (2, 3), state),
                                  's': Call(NP_SCALAR, (dtype, Raw(expected[1, 2].tobytes())))})
    assert loaded['a'].dtype == expected.dtype and np.array_equal(loaded['a'], expected)
    assert type(loaded['s']) is type(expected[1, 2]) and loaded['s'] == expected[1, 2]


@pytest.mark.parametrize('node, reason', [
    (array('O', b'', (0, )), 'numpy dtype other than a plain number'),
    (array('V8', bytes(8)), 'numpy dtype other than a plain number'),
    (array('U1', bytes(4)), 'numpy dtype other than a plain number'),
    (array('M8', bytes(8)), 'numpy dtype other than a plain number'),
    (array('f8', bytes(8), state=(3, '<', None, None, None, -1, -1, 63)), 'byte order'),
    (array('f8', bytes(8), state=(3, '<', None, ('a', ), {}, -1, -1, 0)), 'byte order'),
    (array('f8', bytes(7)), 'more or fewer bytes'),
    (array('f8', bytes(8), shape=(-1, )), 'shape, dtype or data'),
    (Call(NP_RECONSTRUCT, (NP_DTYPE, (0, ), Raw(b'b'))), '_reconstruct'),
    (Call(NP_NDARRAY, ((2, ), 'f8')), 'numpy.ndarray'),
    (Call(NP_SCALAR, (Build(Call(NP_DTYPE, ('f8', False, True)), PLAIN_DTYPE_STATE),
                      Raw(bytes(4)))), 'more or fewer bytes'),
    (Call(NP_DTYPE, ('f8', False, True)), 'without its byte order'),
    (Call(REBUILD, (TENSOR, TENSOR, (), {'x': history()})), 'where mmengine checkpoints never'),
    (Call(Global('builtins.set'), ([array('f8', bytes(8))], )), 'refused as unsafe'),
])
def test_numpy_in_other_forms_is_refused(tmp_path, node, reason):
    with pytest.raises(UnsafeCheckpointError, match=reason):
        load_node(tmp_path, node)


def test_genuine_numpy_values_load(tmp_path):
    path = tmp_path / 'values.pth'
    values = {'scalar': np.float64(0.25), 'int': np.int64(7), 'array': np.arange(5.0),
              'matrix': np.eye(3, dtype=np.float32).T, 'nested': [(np.uint8(3), {'x': 1})]}
    torch.save(values, path)
    loaded = load_checkpoint_file(path)
    assert loaded['scalar'] == 0.25 and type(loaded['scalar']) is np.float64
    assert np.array_equal(loaded['matrix'], values['matrix']) and loaded['int'] == 7
    assert loaded['nested'][0][0] == 3 and loaded['nested'][0][1] == {'x': 1}


def test_unreadable_files_are_named_without_unsafe_advice(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.ones(100)}, good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:300])
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    png = tmp_path / 'image.pth'
    png.write_bytes(b'\x89PNG\r\n\x1a\n' + bytes(64))
    cases = {truncated: 'is not a readable PyTorch checkpoint (truncated or corrupt?)',
             empty: 'is empty (0 bytes)', png: 'is not a PyTorch checkpoint (a PNG image)',
             tmp_path / 'absent.pth': 'checkpoint not found'}
    for path, expected in cases.items():
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint_file(path)
        message = str(caught.value)
        assert expected in message and str(path) in message, message
        assert 'weights_only' not in message and '\n' not in message
