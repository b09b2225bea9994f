"""Latency of exported models (ONNX Runtime, ExecuTorch) next to PyTorch, timed in one process.

    python tools/analysis_tools/benchmark_runtimes.py CONFIG CHECKPOINT FILE [FILE ...]
        [--backbone-only] [--iters N] [--warmup N] [--threads N]

Each FILE (``.onnx`` / ``.pte`` from ``tools/deployment/export.py`` of the same config and
checkpoint) is timed on its exported input shape against the PyTorch model that was exported:
the same network (``--backbone-only`` for backbone exports) in its inference form (batch norms
folded, channels-last), eager. Runs are interleaved round by round, and each row's ratio to
PyTorch is reported with its per-round spread. Every file's outputs are first compared with
PyTorch's on the timing input (float files within 1e-4 of the magnitude; int8 files are reported).
"""
import argparse
import copy

import torch

from mvit3_dense.utils.benchmark import benchmark, format_results
from mvit3_dense.utils.checkpoint import load_model_weights
from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.deploy import prepare_for_inference
from mvit3_dense.utils.errors import InputError, tool_errors
from mvit3_dense.utils.export import export_wrapper
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.runtime_sessions import exported_differences, load_exported, runtime_of


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Exported models against PyTorch, interleaved')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="the weights the files were exported from ('none': "
                        'initial weights, as export.py with none)')
    parser.add_argument('files', nargs='+', help='.onnx / .pte exports of the config')
    parser.add_argument('--backbone-only', action='store_true',
                        help='the files are --backbone-only exports')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--iters', type=int, default=20, help='timed runs of each model')
    parser.add_argument('--threads', type=int,
                        help='threads of PyTorch and ONNX Runtime (default: their own)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args(argv)


def pytorch_network(args):
    torch.manual_seed(0)  # 'none': the initial weights export.py used
    model, _ = build_model_from_config(load_config(args.config, args.cfg_options))
    if args.checkpoint != 'none':
        load_model_weights(model, args.checkpoint)
    model = prepare_for_inference(copy.deepcopy(model.eval()))
    wrapper, _ = export_wrapper(model, backbone_only=args.backbone_only)
    return wrapper.eval()


def run_benchmark(args):
    for path in args.files:
        runtime_of(path)
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = {f'{runtime_of(path)} {path}': load_exported(path, threads=args.threads or 0)
            for path in args.files}
    shapes = {tuple(run.input_shape) for run in runs.values()}
    if len(shapes) != 1 or None in next(iter(shapes)):
        raise InputError('the files must share one fixed input shape (export them with the same '
                         f'--shape, without --dynamic); got {sorted(map(str, shapes))}')
    x = torch.randn(*next(iter(shapes)))
    network = pytorch_network(args)
    for name, run in runs.items():
        _, relative = exported_differences(run, network, x)
        print(f'{name}: outputs differ from PyTorch by {relative:.2e} of their magnitude')

    def eager(inputs):
        with torch.no_grad():
            return network(inputs)

    baseline = 'PyTorch (inference form, eager)'
    steps = {baseline: eager, **runs}
    results = benchmark(steps, x, 'cpu', args.warmup, args.iters, memory=False)
    print(f'infer, input {"x".join(map(str, x.shape))}, cpu, PyTorch threads '
          f'{torch.get_num_threads()}, {args.warmup} warm-up and {args.iters} timed runs each, '
          'interleaved')
    print(format_results(results, [(baseline, name) for name in runs], faster='runtime'))


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        run_benchmark(args)


if __name__ == '__main__':
    main()
