"""Latency, throughput and peak memory of a model next to baselines timed in the same process.

Wall-clock figures are noisy on small shared machines, so every figure is reported together with
its ratio to the model it is compared with, measured in the same run: the runs of all models are
interleaved round by round (the order rotating from round to round), and each ratio comes with
the spread of the per-round ratios, not only the ratio of the medians.

Timing follows the MobileViTv3 authors' latency script (micronDLA/MobileViTv3
MobileViTv3-v1/main_latency.py): warm-up runs, then on CUDA one pair of CUDA events around each
forward and a synchronize before reading the elapsed time (lines 51-71); mixed precision is
``torch.autocast`` fp16 on CUDA as in ml-cvnets' benchmark (84d992f main_benchmark.py:30-35,
55-59). On CPU each run is timed with ``time.perf_counter``.
"""
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    'MMPRETRAIN_BASELINE', 'TIMM_BASELINE', 'Measurement', 'Ratio', 'PerfCounterTimer',
    'CudaEventTimer', 'make_timer', 'nearest_baselines', 'prepare', 'make_step', 'peak_memory',
    'benchmark', 'ratio', 'format_results', 'operator_breakdown', 'format_breakdown',
    'backbone_of', 'SegLogitsAtInputSize'
]

# The nearest MobileViT an OpenMMLab user would otherwise pick (mmpretrain has v1 only), and
# timm's v1 / v2 models, per variant.
MMPRETRAIN_BASELINE = {'s': 'small', 'xs': 'x_small', 'xxs': 'xx_small', 's-l2': 'small',
                       'xs-l2': 'x_small', 'xxs-l2': 'xx_small', '1.0': 'small',
                       '0.75': 'x_small', '0.5': 'x_small'}
TIMM_BASELINE = {'s': 'mobilevit_s', 'xs': 'mobilevit_xs', 'xxs': 'mobilevit_xxs',
                 's-l2': 'mobilevit_s', 'xs-l2': 'mobilevit_xs', 'xxs-l2': 'mobilevit_xxs',
                 '1.0': 'mobilevitv2_100', '0.75': 'mobilevitv2_075', '0.5': 'mobilevitv2_050'}
_AUTOCAST = {'bf16': torch.bfloat16, 'fp16': torch.float16}


@dataclass
class Measurement:
    """The timed runs of one model (seconds, in round order)."""
    name: str
    latencies: List[float]
    batch: int
    peak_bytes: int
    params: Optional[int] = None

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1e3

    @property
    def min_ms(self) -> float:
        return min(self.latencies) * 1e3

    @property
    def max_ms(self) -> float:
        return max(self.latencies) * 1e3

    @property
    def images_per_s(self) -> float:
        return self.batch / statistics.median(self.latencies)


@dataclass
class Ratio:
    """How much faster ``ours`` ran than ``baseline``: above 1, ours is faster.

    ``median``: the baseline's median time over ours. ``low``/``high``: the smallest and largest
    of the per-round ratios (baseline time / our time in the same round).
    """
    ours: str
    baseline: str
    median: float
    low: float
    high: float


class PerfCounterTimer:
    """Seconds of one step by ``time.perf_counter``, with ``synchronize`` (if any) on both sides."""
    description = 'time.perf_counter'

    def __init__(self, synchronize: Optional[Callable[[], None]] = None):
        self.synchronize = synchronize

    def __call__(self, step: Callable, x: torch.Tensor) -> float:
        if self.synchronize is not None:
            self.synchronize()
        start = time.perf_counter()
        step(x)
        if self.synchronize is not None:
            self.synchronize()
        return time.perf_counter() - start


class CudaEventTimer:
    """Seconds of one step between two CUDA events, read after a synchronize.

    As the authors' latency script does (main_latency.py:51-52 events with timing, :65-70 record,
    forward, record, synchronize, ``elapsed_time``); the queue is also drained before the start
    event so that one model's runs never overlap the next one's. ``event_factory`` and
    ``synchronize`` default to ``torch.cuda``'s.
    """
    description = 'CUDA events'

    def __init__(self, event_factory: Optional[Callable[[], object]] = None,
                 synchronize: Optional[Callable[[], None]] = None):
        if event_factory is None:
            event_factory = lambda: torch.cuda.Event(enable_timing=True)  # noqa: E731
        self.synchronize = synchronize or torch.cuda.synchronize
        self.start = event_factory()
        self.end = event_factory()

    def __call__(self, step: Callable, x: torch.Tensor) -> float:
        self.synchronize()
        self.start.record()
        step(x)
        self.end.record()
        self.synchronize()
        return self.start.elapsed_time(self.end) / 1e3  # elapsed_time is in milliseconds


def make_timer(device: str) -> Callable[[Callable, torch.Tensor], float]:
    """CUDA events on ``'cuda'``, ``time.perf_counter`` otherwise."""
    return CudaEventTimer() if device == 'cuda' else PerfCounterTimer()


def nearest_baselines(arch: str) -> Dict[str, nn.Module]:
    """Backbones to compare with: mmpretrain's MobileViT always, timm's when installed."""
    from mmpretrain.models import MobileViT
    key = str(arch)
    baselines = {f'mmpretrain MobileViT-{MMPRETRAIN_BASELINE.get(key, "small")}':
                 MobileViT(arch=MMPRETRAIN_BASELINE.get(key, 'small'))}
    try:
        import timm
    except ImportError:
        return baselines
    name = TIMM_BASELINE.get(key)
    if name is not None:
        model = timm.create_model(name, pretrained=False, num_classes=0, global_pool='')
        baselines[f'timm {name}'] = model
    return baselines


def prepare(model: nn.Module, device: str, channels_last: bool = False,
            compile_model: bool = False, inference_form: bool = False) -> nn.Module:
    """``model`` on ``device`` in eval mode, optionally channels-last and compiled.

    ``inference_form``: this project's inference form instead
    (:func:`~mvit3_dense.utils.deploy.prepare_for_inference`: batch norms folded, channels-last
    whatever ``channels_last`` says). Baselines are timed as they ship, without it.
    """
    if inference_form:
        from .deploy import prepare_for_inference
        return prepare_for_inference(model, device=device, channels_last=True,
                                     compile=compile_model)
    model = model.to(device)
    model.eval()  # not chained: some backbones' train() returns None
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_model:
        model = torch.compile(model)
    return model


def _tensors(outputs) -> List[torch.Tensor]:
    """Every tensor of a (nested) tuple / list / dict of outputs."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return [t for o in outputs for t in _tensors(o)]


def make_step(model: nn.Module, mode: str, dtype: str, device: str) -> Callable:
    """A one-argument callable doing one inference forward, or one training step.

    ``dtype``: ``'fp32'``, or ``'bf16'`` / ``'fp16'`` under ``torch.autocast``. A training step is
    forward, a loss (the mean of every output), backward and an AdamW step; with fp16 the loss is
    scaled (``torch.amp.GradScaler``), as mixed-precision training does.
    """
    if dtype not in ('fp32', *_AUTOCAST):
        raise ValueError(f'dtype must be fp32, bf16 or fp16, got {dtype!r}')
    device_type = 'cuda' if str(device).startswith('cuda') else 'cpu'

    def autocast():
        if dtype == 'fp32':
            return nullcontext()
        return torch.autocast(device_type=device_type, dtype=_AUTOCAST[dtype])

    if mode == 'infer':

        def step(x):
            with torch.no_grad(), autocast():
                return model(x)

        return step
    if mode != 'train':
        raise ValueError(f'mode must be infer or train, got {mode!r}')
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    scaler = torch.amp.GradScaler(device_type, enabled=dtype == 'fp16')

    def train_step(x):
        with autocast():
            outs = model(x)
        loss = sum(o.float().mean() for o in _tensors(outs) if o.is_floating_point())
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss

    return train_step


def _sync(device: str):
    if device == 'cuda':
        torch.cuda.synchronize()


def peak_memory(step: Callable, x: torch.Tensor, device: str) -> int:
    """Peak bytes that one step holds at once beyond what existed before it.

    CUDA: the allocator's peak. CPU: replays the profiler's allocation (+) and free (-) records
    of the step in time order and takes the largest running total.
    """
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(x)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                profile_memory=True) as prof:
        step(x)
    current = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return peak


def benchmark(models: Dict[str, Callable], x: torch.Tensor, device: str = 'cpu',
              warmup: int = 3, iters: int = 10,
              timer: Optional[Callable[[Callable, torch.Tensor], float]] = None,
              memory: bool = True, params: Optional[Dict[str, int]] = None) -> List[Measurement]:
    """Time every ``{name: step}`` on input ``x``, interleaving their runs round by round.

    Each model first runs ``warmup`` times. Round ``r`` then runs every model once, starting with
    model ``r mod n`` (so that no model always follows the same one). ``timer(step, x)`` returns
    seconds (default: :func:`make_timer`). With ``memory``, one more run per model measures its
    peak memory.
    """
    if iters < 1:
        raise ValueError(f'iters must be at least 1, got {iters}')
    timer = timer or make_timer(device)
    names = list(models)
    for step in models.values():
        for _ in range(warmup):
            step(x)
    _sync(device)
    latencies: Dict[str, List[float]] = {name: [] for name in names}
    for r in range(iters):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            latencies[name].append(timer(models[name], x))
    params = params or {}
    return [Measurement(name, latencies[name], x.shape[0],
                        peak_memory(models[name], x, device) if memory else 0,
                        params.get(name)) for name in names]


def ratio(results: Sequence[Measurement], ours: str, baseline: str) -> Ratio:
    """``baseline``'s time over ``ours``'s: of the medians, and the range over paired rounds."""
    by_name = {r.name: r for r in results}
    mine, theirs = by_name[ours], by_name[baseline]
    per_round = [b / a for a, b in zip(mine.latencies, theirs.latencies)]
    return Ratio(ours, baseline, theirs.median_ms / mine.median_ms, min(per_round),
                 max(per_round))


PairList = Union[Dict[str, str], Sequence[Tuple[str, str]]]


def format_results(results: Sequence[Measurement], pairs: PairList,
                   faster: str = 'ours') -> str:
    """A table of every model's figures, then each pair's speed ratio.

    ``pairs``: ``{baseline: ours}`` or ``(baseline, ours)`` tuples (one baseline against several
    rows); the ratio is the baseline's time over ``ours``'s. ``faster`` names the ``ours`` side in
    the heading.
    """
    header = (f'{"model":<46}{"median ms":>10}{"min ms":>9}{"max ms":>9}{"images/s":>10}'
              f'{"peak MB":>9}{"params":>11}')
    lines = [header, '-' * len(header)]
    for r in results:
        params = f'{r.params:,}' if r.params is not None else '-'
        lines.append(f'{r.name:<46}{r.median_ms:>10.2f}{r.min_ms:>9.2f}{r.max_ms:>9.2f}'
                     f'{r.images_per_s:>10.1f}{r.peak_bytes / 2**20:>9.1f}{params:>11}')
    pairs = list(pairs.items()) if isinstance(pairs, dict) else list(pairs)
    if pairs:
        lines += ['', f'{faster} faster by (baseline time / {faster} time; above 1: {faster} is '
                  'faster): ratio of the medians [lowest, highest per-round ratio]']
        for baseline, ours in pairs:
            q = ratio(results, ours, baseline)
            lines.append(f'{ours} vs {baseline}: {q.median:.2f}x [{q.low:.2f}, {q.high:.2f}]')
    return '\n'.join(lines)


def operator_breakdown(step: Callable, x: torch.Tensor, device: str = 'cpu',
                       runs: int = 3) -> Dict[str, float]:
    """Milliseconds per run that each operator of ``step`` spends itself (not in the operators it
    calls), from ``torch.profiler``: CPU time on CPU, device time on CUDA."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device == 'cuda':
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    step(x)  # lazily built state (e.g. an optimizer's buffers) stays out of the profile
    _sync(device)
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(runs):
            step(x)
        _sync(device)
    field = 'self_device_time_total' if device == 'cuda' else 'self_cpu_time_total'
    times = {e.key: getattr(e, field) / 1e3 / runs for e in prof.key_averages()}
    return {op: ms for op, ms in times.items() if ms > 0}


def format_breakdown(breakdowns: Dict[str, Dict[str, float]], top: int = 15) -> str:
    """Operators side by side, one column per model (ms per run): the union of each model's
    ``top`` most expensive operators, dearest first, then the rest and the total."""
    names = list(breakdowns)
    chosen: List[str] = []
    for times in breakdowns.values():
        for op in sorted(times, key=times.get, reverse=True)[:top]:
            if op not in chosen:
                chosen.append(op)
    chosen.sort(key=lambda op: max(t.get(op, 0.0) for t in breakdowns.values()), reverse=True)
    width = max([len(op) for op in chosen] + [len('operator'), len('total')]) + 2
    lines = [f'[{i}] {name}' for i, name in enumerate(names, 1)]
    header = f'{"operator (ms per run)":<{width}}' + ''.join(
        f'{f"[{i}]":>10}' for i in range(1, len(names) + 1))
    lines += [header, '-' * len(header)]
    for op in chosen:
        lines.append(f'{op:<{width}}' + ''.join(
            f'{breakdowns[n].get(op, 0.0):>10.2f}' for n in names))
    lines.append(f'{"other operators":<{width}}' + ''.join(
        f'{sum(ms for op, ms in breakdowns[n].items() if op not in chosen):>10.2f}'
        for n in names))
    lines.append(f'{"total":<{width}}' + ''.join(
        f'{sum(breakdowns[n].values()):>10.2f}' for n in names))
    return '\n'.join(lines)


def backbone_of(model: nn.Module) -> nn.Module:
    return model.backbone if hasattr(model, 'backbone') else model


class SegLogitsAtInputSize(nn.Module):
    """An mmseg segmentor's network forward with its logits resized to the input size.

    The authors' DeepLabv3 up-samples its logits to the input inside the model (ml-cvnets
    cvnets/models/segmentation/heads/base_seg_head.py, ``upsample_seg_out``), and mmseg does the
    same resize in its loss and its prediction; timing ``mode='tensor'`` alone would leave it out.
    In training mode the auxiliary head runs as well, as in a training step of either code.
    """

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, x: torch.Tensor):
        seg = self.segmentor
        feats = seg.extract_feat(x)
        logits = seg.decode_head.forward(feats)
        logits = F.interpolate(logits, size=x.shape[2:], mode='bilinear',
                               align_corners=seg.decode_head.align_corners)
        if not (self.training and getattr(seg, 'with_auxiliary_head', False)):
            return logits
        heads = seg.auxiliary_head
        heads = heads if isinstance(heads, nn.ModuleList) else [heads]
        return (logits, *[head.forward(feats) for head in heads])
