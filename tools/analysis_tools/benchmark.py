"""Speed of a config's backbone and model next to other MobileViTs timmed in the same process.

    python tools/analysis_tools/benchmark.py CONFIG [--batch N] [--shape H W] [--dtype fp32|bf16]
        [--channels-last] [--compile] [--device cpu|cuda] [--mode infer|train]

Rows: this project's backbone (the reference of the ratios), the whole model of the config
(network forward only), mmpretrain's MobileViT of the nearest size, timm's MobileViT when timm is
installed, and with ``--dtype bf16`` the same backbone in fp32 so the bf16 speed-up is read off.
"""
import argparse

import torch
from mmengine.config import DictAction

from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.benchmark import (backbone_of, benchmark, format_results, make_step,
                                         nearest_baselines, prepare)
from mvit3_dense.utils.tensor_mode import TensorMode


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Latency and throughput against baselines')
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256], metavar=('H', 'W'))
    parser.add_argument('--dtype', choices=['fp32', 'bf16'], default='fp32',
                        help='bf16 runs under torch.autocast')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--mode', choices=['infer', 'train'], default='infer',
                        help='train: forward, backward and an AdamW step')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--no-full-model', action='store_true',
                        help='time backbones only (skip the config\'s whole model)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda but no CUDA device is visible')
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = build_model_from_config(args.config, args.cfg_options)
    backbone = backbone_of(model)
    arch = cfg.model.get('backbone', {}).get('arch', 's')

    def step(module, dtype=args.dtype):
        module = prepare(module, args.device, args.channels_last, args.compile)
        return make_step(module, args.mode, dtype, args.device)

    ours = f'mvit3_dense MobileViTv3-{arch} backbone'
    steps = {ours: step(backbone)}
    if args.dtype == 'bf16':
        steps[f'{ours} (fp32)'] = step(backbone, 'fp32')
    if not args.no_full_model and backbone is not model and args.mode == 'infer':
        steps[f'whole model ({type(model).__name__})'] = step(TensorMode(model))
    for name, baseline in nearest_baselines(arch).items():
        steps[name] = step(baseline)

    x = torch.randn(args.batch, 3, *args.shape, device=args.device)
    if args.channels_last:
        x = x.to(memory_format=torch.channels_last)
    results = benchmark(steps, x, args.device, args.warmup, args.iters)
    print(f'{args.mode}, batch {args.batch}, {args.shape[0]}x{args.shape[1]}, {args.dtype}, '
          f'{args.device}, threads {torch.get_num_threads()}, channels_last '
          f'{args.channels_last}, compile {args.compile}, {args.iters} timed runs each')
    print(format_results(results, ours))


if __name__ == '__main__':
    main()
