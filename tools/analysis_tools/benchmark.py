"""Speed of a config's backbone and whole model next to other MobileViTs timed in the same process.

    python tools/analysis_tools/benchmark.py CONFIG [--batch N [N ...]] [--shape H W]
        [--dtype fp32|bf16|fp16] [--channels-last] [--compile] [--device auto|cpu|cuda]
        [--mode infer|train] [--authors-code DIR] [--no-fuse] [--profile N]

Pairs, each timed interleaved in one process and reported as a ratio with its spread:
this project's backbone against mmpretrain's MobileViT of the nearest size, timm's MobileViT
(when timm is installed: requirements/speed.txt) and, with ``--authors-code DIR``, the authors'
own encoder; this project's whole network (without post-processing) against the authors' whole
network of the same config. ``DIR`` holds the authors' trees as
``tools/analysis_tools/prepare_authors_code.sh`` builds them; their parameter counts must equal
ours, or the tool stops. With ``--dtype bf16`` / ``fp16`` our backbone also runs in fp32.

In inference mode this project's models are timed in their inference form
(``mvit3_dense.utils.deploy.prepare_for_inference``: batch norms folded into the convolutions,
channels-last), the form ``tools/deployment/export.py`` exports; ``--no-fuse`` times them
as trained (eval mode, memory format from ``--channels-last``). The baselines always run as they
ship: eval mode, norms not folded (``--channels-last`` applies to them).

On CUDA each run is timed with CUDA events (as the authors' latency script); on CPU with
``time.perf_counter``. Each ``--batch`` gets its own table: batch 1 for latency, a large batch
for throughput. ``--profile N`` then prints where each model spends its time: its ``N`` most
expensive operators side by side (``torch.profiler``, self time per run).
"""
import argparse
import copy

import torch
import torch.nn as nn
from mmengine.config import DictAction

from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.benchmark import (SegLogitsAtInputSize, backbone_of, benchmark,
                                         format_breakdown, format_results, make_step,
                                         make_timer, nearest_baselines, operator_breakdown,
                                         prepare)
from mvit3_dense.utils.tensor_mode import TensorMode

# The input each kind of config is measured at by default: the authors' classification crop,
# DeepLabv3 crop and SSDLite input.
DEFAULT_SHAPE = {'mmpretrain': (256, 256), 'mmseg': (512, 512), 'mmdet': (320, 320)}
TASK = {'mmpretrain': 'classification', 'mmseg': 'segmentation', 'mmdet': 'detection'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Latency and throughput against baselines')
    parser.add_argument('config')
    parser.add_argument('--batch', type=int, nargs='+', default=[1],
                        help='one table per batch size: 1 for latency, a large one for '
                        'throughput')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: 256x256 classification, 512x512 '
                        'segmentation, 320x320 detection)')
    parser.add_argument('--dtype', choices=['fp32', 'bf16', 'fp16'], default='fp32',
                        help='bf16 / fp16 run under torch.autocast (fp16: CUDA only)')
    parser.add_argument('--channels-last', action='store_true',
                        help='channels-last memory for the baselines (and for ours with '
                        '--no-fuse; our inference form is channels-last already)')
    parser.add_argument('--no-fuse', action='store_true',
                        help='time our models as trained (batch norms not folded) instead of '
                        'in their inference form')
    parser.add_argument('--compile', action='store_true', help='torch.compile every model')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='auto: cuda when available, else cpu')
    parser.add_argument('--mode', choices=['infer', 'train'], default='infer',
                        help='train: forward, backward and an AdamW step')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--iters', type=int, default=10, help='timed runs of each model')
    parser.add_argument('--threads', type=int, help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--no-full-model', action='store_true',
                        help='time backbones only (skip the config\'s whole model)')
    parser.add_argument('--authors-code', metavar='DIR',
                        help='add the authors\' models of the same variant, from DIR/v1 or '
                        'DIR/v2 (built by tools/analysis_tools/prepare_authors_code.sh)')
    parser.add_argument('--no-mmpretrain', action='store_true',
                        help='leave out mmpretrain\'s and timm\'s MobileViT')
    parser.add_argument('--profile', type=int, metavar='N', default=0,
                        help='after the timing, each model\'s N most expensive operators side '
                        'by side (torch.profiler self time per run)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def _count(module):
    return sum(p.numel() for p in module.parameters())


def _authors_models(args, cfg, arch, task, our_backbone):
    """The authors' encoder and whole network of the config's variant, with their names."""
    from mvit3_dense.utils.authors_baseline import (AuthorsBackbone, AuthorsNetwork,
                                                    authors_spec, load_authors_model)
    num_classes = None
    if task == 'segmentation':
        num_classes = cfg.model.decode_head.num_classes
    elif task == 'detection':
        num_classes = cfg.model.bbox_head.num_classes
    try:
        spec = authors_spec(arch, task, num_classes)
        whole = load_authors_model(args.authors_code, spec)
        # A copy of its own: in a training step each timed model has its own modules and mode.
        backbone = load_authors_model(args.authors_code, spec)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        raise SystemExit(f'error: --authors-code {args.authors_code}: {error}')
    with_exp = isinstance(getattr(our_backbone, 'conv_1x1_exp', None), nn.Module)
    print(f'authors\' model: {spec.family}/{spec.config}, overrides {spec.overrides}')
    return AuthorsBackbone(backbone, with_exp), AuthorsNetwork(whole)


def _check_params(name, ours, theirs):
    """Both counts printed; a difference means the two are not the same variant."""
    a, b = _count(ours), _count(theirs)
    print(f'parameters, {name}: ours {a:,}, authors\' {b:,}')
    if a != b:
        raise SystemExit(f'error: the authors\' {name} has {b:,} parameters and ours {a:,}: '
                         'not the same variant (is the checkout at the commits '
                         'prepare_authors_code.sh names?)')


def main(argv=None):
    args = parse_args(argv)
    device = args.device
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda but no CUDA device is visible')
    if args.dtype == 'fp16' and device != 'cuda':
        raise SystemExit('error: --dtype fp16 is CUDA mixed precision; on CPU use --dtype bf16')
    if args.threads:
        torch.set_num_threads(args.threads)
    model, cfg = build_model_from_config(args.config, args.cfg_options)
    scope = cfg.get('default_scope', 'mmpretrain')
    task = TASK.get(scope, 'classification')
    shape = args.shape or DEFAULT_SHAPE.get(scope, (256, 256))
    arch = str(cfg.model.get('backbone', {}).get('arch', 's'))
    # Own copies, so that the backbone and the whole model can each be trained in one process.
    backbone = copy.deepcopy(backbone_of(model))
    has_whole = not args.no_full_model and backbone_of(model) is not model

    inference_form = args.mode == 'infer' and not args.no_fuse

    def step(module, dtype=args.dtype, ours=False):
        module = prepare(module, device, args.channels_last, args.compile,
                         inference_form=ours and inference_form)
        return make_step(module, args.mode, dtype, device)

    ours = f'mvit3_dense MobileViTv3-{arch} backbone'
    ours_whole = f'mvit3_dense {type(model).__name__}'
    modules = {ours: backbone}
    pairs = {}  # baseline row -> the row of ours it is compared with
    if has_whole:
        modules[ours_whole] = (SegLogitsAtInputSize(model) if task == 'segmentation' else
                               TensorMode(model))
    if args.authors_code:
        theirs, theirs_whole = _authors_models(args, cfg, arch, task, backbone)
        _check_params('backbone', backbone, theirs)
        modules[f'authors\' MobileViTv3-{arch} encoder'] = theirs
        pairs[f'authors\' MobileViTv3-{arch} encoder'] = ours
        if has_whole:
            _check_params('whole model', model, theirs_whole)
            name = f'authors\' {type(theirs_whole.model).__name__}'
            modules[name] = theirs_whole
            pairs[name] = ours_whole
    if not args.no_mmpretrain:
        for name, baseline in nearest_baselines(arch).items():
            modules[name] = baseline
            pairs[name] = ours
    mine = {ours, ours_whole}
    # Our fp32 row gets its own copy: the inference form folds the norms in place.
    extra = copy.deepcopy(backbone) if args.dtype != 'fp32' else None
    params = {name: _count(module) for name, module in modules.items()}
    steps = {name: step(module, ours=name in mine) for name, module in modules.items()}
    if extra is not None:
        steps[f'{ours} (fp32)'] = step(extra, 'fp32', ours=True)
        pairs[f'{ours} (fp32)'] = ours

    timer = make_timer(device)
    where = (f'cuda {torch.cuda.get_device_name()} (timed with CUDA events)'
             if device == 'cuda' else f'cpu (timed with {timer.description})')
    for i, batch in enumerate(args.batch):
        x = torch.randn(batch, 3, *shape, device=device)
        if args.channels_last:
            x = x.to(memory_format=torch.channels_last)
        results = benchmark(steps, x, device, args.warmup, args.iters, timer=timer,
                            params=params)
        if i:
            print()
        print(f'{args.mode}, batch {batch}, {shape[0]}x{shape[1]}, '
              f'{args.dtype}, {where}, threads {torch.get_num_threads()}, channels_last '
              f'{args.channels_last}, compile {args.compile}, {args.warmup} warm-up and '
              f'{args.iters} timed runs each, interleaved')
        print('ours: ' + ('inference form (batch norms folded, channels-last)' if inference_form
                          else 'as trained (batch norms not folded)') +
              '; baselines: eval mode, as they ship')
        print(format_results(results, pairs))
        if args.profile:
            print(f'\noperators, batch {batch} (torch.profiler self time per run; profiling '
                  'slows every run, so compare columns, not with the table above)')
            print(format_breakdown({name: operator_breakdown(step_, x, device)
                                    for name, step_ in steps.items()}, top=args.profile))


if __name__ == '__main__':
    main()
