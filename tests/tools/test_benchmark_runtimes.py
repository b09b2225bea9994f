"""tools/analysis_tools/benchmark_runtimes.py: exported files timed next to PyTorch after their
outputs are compared with it."""
import re

from ..conftest import REPO_ROOT
from .test_bad_inputs import call_tool

CLS = str(REPO_ROOT / 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py')


def export(out, capsys, *shape):
    status, _, output = call_tool('tools/deployment/export.py',
                                  [CLS, 'none', out, '--shape', *shape], capsys)
    assert status == 0, output[-2000:]


def test_exported_files_are_checked_then_timed_against_pytorch(tmp_path, capsys):
    onnx = tmp_path / 'cls.onnx'
    export(onnx, capsys, 64, 64)
    status, _, output = call_tool('tools/analysis_tools/benchmark_runtimes.py',
                                  [CLS, 'none', onnx, '--iters', 3, '--warmup', 1], capsys)
    assert status == 0, output[-2000:]
    difference = re.search(rf'onnxruntime {re.escape(str(onnx))}: outputs differ from PyTorch '
                           r'by (\S+) of their magnitude', output)
    assert difference and float(difference.group(1)) <= 1e-5, output
    assert 'infer, input 1x3x64x64' in output
    ratio = re.search(rf'onnxruntime {re.escape(str(onnx))} vs PyTorch \(inference form, eager\): '
                      r'([\d.]+)x \[([\d.]+), ([\d.]+)\]', output)
    assert ratio and float(ratio.group(2)) <= float(ratio.group(1)) <= float(ratio.group(3))


def test_files_of_different_shapes_are_refused(tmp_path, capsys):
    small, large = tmp_path / 'small.onnx', tmp_path / 'large.onnx'
    export(small, capsys, 64, 64)
    export(large, capsys, 96, 96)
    status, line, _ = call_tool('tools/analysis_tools/benchmark_runtimes.py',
                                [CLS, 'none', small, large], capsys)
    assert status == 1 and line.startswith('error: the files must share one fixed input shape')
