import sys
import types

import torch

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.benchmark import (Measurement, benchmark, format_results, make_step,
                                         nearest_baselines, peak_memory, prepare)


def test_peak_memory_grows_with_the_batch():
    step = make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')
    small = peak_memory(step, torch.randn(1, 3, 64, 64), 'cpu')
    large = peak_memory(step, torch.randn(4, 3, 64, 64), 'cpu')
    # The stem output alone (16 x 32 x 32 floats per image) must be held at some point.
    assert small >= 16 * 32 * 32 * 4
    assert large > 3 * small


def test_benchmark_times_every_model_interleaved(monkeypatch):
    monkeypatch.setitem(sys.modules, 'timm', None)  # timm absent: mmpretrain's model only
    x = torch.randn(2, 3, 64, 64)
    calls = []

    def recording(name, step):
        def run(inputs):
            calls.append(name)
            return step(inputs)
        return run

    steps = {'ours': make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')}
    for name, model in nearest_baselines('xxs').items():
        steps[name] = make_step(prepare(model, 'cpu'), 'infer', 'fp32', 'cpu')
    results = benchmark({n: recording(n, s) for n, s in steps.items()}, x, warmup=1, iters=2)
    assert [r.name for r in results] == ['ours', 'mmpretrain MobileViT-xx_small']
    assert all(len(r.latencies) == 2 and r.batch == 2 and r.peak_bytes > 0 for r in results)
    # warm-up of each, then the timed runs alternate, then one profiled run each for memory.
    assert calls[2:6] == ['ours', 'mmpretrain MobileViT-xx_small'] * 2


def test_table_states_each_row_against_the_reference():
    results = [Measurement('ours', [0.010, 0.012, 0.011], 4, 3 * 2**20),
               Measurement('other', [0.022, 0.020, 0.024], 4, 2**19)]
    rows = format_results(results, 'ours').splitlines()
    assert rows[2].split() == ['ours', '11.00', '363.6', '3.0', '1.00x']
    assert rows[3].split() == ['other', '22.00', '181.8', '0.5', '0.50x']
    assert format_results(results, 'other').splitlines()[2].split()[-1] == '2.00x'


def test_timm_baseline_is_added_when_timm_is_installed(monkeypatch):
    created = []

    def create_model(name, **kwargs):
        created.append((name, kwargs))
        return torch.nn.Identity()

    monkeypatch.setitem(sys.modules, 'timm', types.SimpleNamespace(create_model=create_model))
    assert list(nearest_baselines('0.5')) == ['mmpretrain MobileViT-x_small', 'timm mobilevitv2_050']
    assert created == [('mobilevitv2_050',
                        dict(pretrained=False, num_classes=0, global_pool=''))]
    monkeypatch.setitem(sys.modules, 'timm', None)
    assert list(nearest_baselines('s-l2')) == ['mmpretrain MobileViT-small']


def test_training_step_updates_the_weights():
    model = prepare(MobileViTv3(arch='0.5', out_indices=(4, 5)), 'cpu')
    step = make_step(model, 'train', 'fp32', 'cpu')
    before = model.layer5[1].fusion.conv.weight.clone()
    step(torch.randn(2, 3, 64, 64))
    assert model.training and not torch.equal(before, model.layer5[1].fusion.conv.weight)
