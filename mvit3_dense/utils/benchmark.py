"""Latency, throughput and peak memory of a model next to baselines timed in the same process.

Wall-clock figures are noisy on small shared machines, so every figure is reported together with
its ratio to a baseline measured in the same run, with the runs of all models interleaved.
"""
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

# The nearest MobileViT an OpenMMLab user would otherwise pick (mmpretrain has v1 only), and
# timm's v1 / v2 models, per variant.
MMPRETRAIN_BASELINE = {'s': 'small', 'xs': 'x_small', 'xxs': 'xx_small', 's-l2': 'small',
                       'xs-l2': 'x_small', 'xxs-l2': 'xx_small', '1.0': 'small',
                       '0.75': 'x_small', '0.5': 'x_small'}
TIMM_BASELINE = {'s': 'mobilevit_s', 'xs': 'mobilevit_xs', 'xxs': 'mobilevit_xxs',
                 's-l2': 'mobilevit_s', 'xs-l2': 'mobilevit_xs', 'xxs-l2': 'mobilevit_xxs',
                 '1.0': 'mobilevitv2_100', '0.75': 'mobilevitv2_075', '0.5': 'mobilevitv2_050'}


@dataclass
class Measurement:
    name: str
    latencies: list
    batch: int
    peak_bytes: int

    @property
    def median_ms(self):
        return statistics.median(self.latencies) * 1e3

    @property
    def images_per_s(self):
        return self.batch / statistics.median(self.latencies)


def nearest_baselines(arch):
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


def prepare(model, device, channels_last=False, compile_model=False):
    model = model.to(device)
    model.eval()  # not chained: some backbones' train() returns None
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile_model:
        model = torch.compile(model)
    return model


def make_step(model, mode, dtype, device):
    """A zero-argument callable doing one inference forward, or one training step."""
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16)
                if dtype == 'bf16' else nullcontext())
    if mode == 'infer':

        def step(x):
            with torch.no_grad(), autocast:
                return model(x)

        return step
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def train_step(x):
        with autocast:
            outs = model(x)
        outs = outs if isinstance(outs, (tuple, list)) else [outs]
        loss = sum(o.float().mean() for o in outs)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return train_step


def _sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def peak_memory(step, x, device):
    """Peak bytes that one step holds at once beyond what existed before it.

    CUDA: the allocator's peak. CPU: replays the profiler's allocation (+) and free (-) records
    of the step in time order and takes the largest running total.
    """
    if device == 'cuda':
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


def benchmark(models, x, device='cpu', warmup=3, iters=10):
    """Time every ``{name: step}`` on input ``x``, interleaving their runs round by round."""
    for step in models.values():
        for _ in range(warmup):
            step(x)
    _sync(device)
    latencies = {name: [] for name in models}
    for _ in range(iters):
        for name, step in models.items():
            _sync(device)
            start = time.perf_counter()
            step(x)
            _sync(device)
            latencies[name].append(time.perf_counter() - start)
    return [Measurement(name, latencies[name], x.shape[0], peak_memory(step, x, device))
            for name, step in models.items()]


def format_results(results, reference):
    """A table with each model's figures and its speed relative to ``reference``."""
    ref = next(r for r in results if r.name == reference)
    header = f'{"model":<40}{"median ms":>11}{"images/s":>10}{"peak MB":>10}{"speed vs " + "ref":>14}'
    lines = [header, '-' * len(header)]
    for r in results:
        speed = ref.median_ms / r.median_ms
        lines.append(f'{r.name:<40}{r.median_ms:>11.2f}{r.images_per_s:>10.1f}'
                     f'{r.peak_bytes / 2**20:>10.1f}{speed:>13.2f}x')
    lines.append(f'speed vs ref = median latency of "{reference}" / median latency of the row '
                 '(above 1: faster than it).')
    return '\n'.join(lines)


def backbone_of(model):
    return model.backbone if hasattr(model, 'backbone') else model
