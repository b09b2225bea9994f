import copy
import sys
import types

import pytest
import torch
import torch.nn as nn

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.benchmark import (CudaEventTimer, Measurement, PerfCounterTimer,
                                         SegLogitsAtInputSize, benchmark, format_breakdown,
                                         format_results, make_step, make_timer,
                                         nearest_baselines, operator_breakdown, peak_memory,
                                         prepare, ratio)
from mvit3_dense.utils.model_builder import build_model_from_config


def test_peak_memory_grows_with_the_batch():
    step = make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')
    small = peak_memory(step, torch.randn(1, 3, 64, 64), 'cpu')
    large = peak_memory(step, torch.randn(4, 3, 64, 64), 'cpu')
    # The stem output alone (16 x 32 x 32 floats per image) must be held at some point.
    assert small >= 16 * 32 * 32 * 4
    assert large > 3 * small


class ScriptedTimer:
    """Returns fixed times per model, in call order, and runs the step like a real timer."""

    def __init__(self, times):
        self.times = {name: list(t) for name, t in times.items()}

    def __call__(self, step, x):
        name = step(x)
        return self.times[name].pop(0)


def test_runs_are_interleaved_with_a_rotating_order_and_timed_by_the_timer():
    calls = []

    def model(name):

        def step(x):
            calls.append(name)
            return name

        return step

    timer = ScriptedTimer({'a': [0.1, 0.2, 0.3], 'b': [1.0, 2.0, 3.0], 'c': [5.0, 5.0, 5.0]})
    results = benchmark({n: model(n) for n in 'abc'}, torch.zeros(4, 3, 8, 8), warmup=2,
                        iters=3, timer=timer, memory=False, params={'a': 7})
    # warm-up of each in turn, then round r starts with model r mod 3
    assert calls == ['a', 'a', 'b', 'b', 'c', 'c',
                     'a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']
    assert [(r.name, r.latencies, r.batch, r.params) for r in results] == [
        ('a', [0.1, 0.2, 0.3], 4, 7), ('b', [1.0, 2.0, 3.0], 4, None),
        ('c', [5.0, 5.0, 5.0], 4, None)]
    with pytest.raises(ValueError, match='iters must be at least 1'):
        benchmark({'a': model('a')}, torch.zeros(1), iters=0, timer=timer, memory=False)


def test_ratio_is_the_ratio_of_medians_with_the_per_round_spread():
    ours = Measurement('ours', [0.010, 0.012, 0.011], 4, 3 * 2**20, 1000)
    theirs = Measurement('theirs', [0.030, 0.018, 0.033], 4, 2**19)
    q = ratio([ours, theirs], 'ours', 'theirs')
    # medians 30 ms / 11 ms; per round 3.0, 1.5, 3.0
    assert q.median == pytest.approx(30 / 11)
    assert (q.low, q.high) == (pytest.approx(1.5), pytest.approx(3.0))
    assert (ours.min_ms, ours.max_ms) == (pytest.approx(10), pytest.approx(12))
    assert ratio([ours, theirs], 'theirs', 'ours').median == pytest.approx(11 / 30)


def test_table_states_every_row_then_each_pair():
    results = [Measurement('ours', [0.010, 0.012, 0.011], 4, 3 * 2**20, 1_249_448),
               Measurement('other', [0.022, 0.020, 0.024], 4, 2**19)]
    rows = format_results(results, {'other': 'ours'}).splitlines()
    assert rows[2].split() == ['ours', '11.00', '10.00', '12.00', '363.6', '3.0', '1,249,448']
    assert rows[3].split() == ['other', '22.00', '20.00', '24.00', '181.8', '0.5', '-']
    assert rows[-1] == 'ours vs other: 2.00x [1.67, 2.20]'
    assert len(format_results(results, {}).splitlines()) == 4


def test_operator_breakdown_charges_each_operator_its_own_time():
    a = torch.randn(384, 384)

    def step(x):
        for _ in range(4):
            x = torch.mm(x, a)
        return torch.relu(x)

    times = operator_breakdown(step, torch.randn(384, 384), runs=2)
    # Four 384^3 products cost far more than one element-wise pass over the result.
    assert times['aten::mm'] > 4 * times.get('aten::relu', times.get('aten::clamp_min', 0.0))
    assert all(ms > 0 for ms in times.values())  # operators that took no time are left out


def test_breakdown_table_lists_each_models_dearest_operators_side_by_side():
    ours = {'aten::mm': 6.0, 'aten::add': 1.0, 'aten::gelu': 0.5}
    theirs = {'aten::mm': 5.0, 'aten::copy_': 5.5, 'aten::add': 0.25}
    rows = format_breakdown({'ours': ours, 'theirs': theirs}, top=1).splitlines()
    assert rows[:2] == ['[1] ours', '[2] theirs']
    assert rows[2].split() == ['operator', '(ms', 'per', 'run)', '[1]', '[2]']
    # The top operator of each, dearest first; the rest summed; the total.
    assert [r.split() for r in rows[4:]] == [['aten::mm', '6.00', '5.00'],
                                            ['aten::copy_', '0.00', '5.50'],
                                            ['other', 'operators', '1.50', '0.25'],
                                            ['total', '7.50', '10.75']]


def test_cuda_event_timer_records_around_the_step_and_reads_after_a_synchronize():
    log = []

    class Event:
        def __init__(self, name):
            self.name = name

        def record(self):
            log.append(f'record {self.name}')

        def elapsed_time(self, end):
            log.append(f'elapsed {self.name}->{end.name}')
            return 12.5  # milliseconds, as torch.cuda.Event reports

    names = iter(['start', 'end'])
    timer = CudaEventTimer(event_factory=lambda: Event(next(names)),
                           synchronize=lambda: log.append('sync'))
    seconds = timer(lambda x: log.append(f'step {x}'), 3)
    assert seconds == 0.0125
    assert log == ['sync', 'record start', 'step 3', 'record end', 'sync',
                   'elapsed start->end']
    assert isinstance(make_timer('cpu'), PerfCounterTimer)


def test_perf_counter_timer_synchronizes_on_both_sides():
    log = []
    timer = PerfCounterTimer(synchronize=lambda: log.append('sync'))
    assert timer(lambda x: log.append('step'), None) >= 0
    assert log == ['sync', 'step', 'sync']


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_protocol_times_with_events_under_fp16_autocast():
    model = prepare(MobileViTv3(arch='xxs'), 'cuda')
    steps = {'fp16': make_step(model, 'infer', 'fp16', 'cuda'),
             'fp32': make_step(model, 'infer', 'fp32', 'cuda')}
    assert steps['fp16'](torch.randn(1, 3, 64, 64, device='cuda'))[-1].dtype == torch.float16
    results = benchmark(steps, torch.randn(2, 3, 64, 64, device='cuda'), 'cuda', warmup=1,
                        iters=2)
    assert isinstance(make_timer('cuda'), CudaEventTimer)
    assert all(len(r.latencies) == 2 and min(r.latencies) > 0 and r.peak_bytes > 0
               for r in results)


def test_real_models_are_timed_and_their_memory_measured(monkeypatch):
    monkeypatch.setitem(sys.modules, 'timm', None)  # timm absent: mmpretrain's model only
    steps = {'ours': make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')}
    for name, model in nearest_baselines('xxs').items():
        steps[name] = make_step(prepare(model, 'cpu'), 'infer', 'fp32', 'cpu')
    results = benchmark(steps, torch.randn(2, 3, 64, 64), warmup=1, iters=2)
    assert [r.name for r in results] == ['ours', 'mmpretrain MobileViT-xx_small']
    assert all(len(r.latencies) == 2 and r.batch == 2 and r.peak_bytes > 0 for r in results)


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


def test_training_step_takes_nested_outputs():

    class Nested(nn.Module):

        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 2, 1)
            self.b = nn.Conv2d(3, 2, 1)

        def forward(self, x):
            return ([self.a(x)], [self.b(x)]), {'anchors': torch.arange(3)}

    model = Nested()
    x = torch.ones(1, 3, 2, 2)
    before = [model.a.weight.clone(), model.b.weight.clone()]
    with torch.no_grad():
        expected = model.a(x).mean() + model.b(x).mean()  # the integer anchors are left out
    loss = make_step(model, 'train', 'fp32', 'cpu')(x)
    assert loss.item() == pytest.approx(expected.item())
    assert not torch.equal(before[0], model.a.weight)
    assert not torch.equal(before[1], model.b.weight)
    with pytest.raises(ValueError, match='dtype must be fp32, bf16 or fp16'):
        make_step(model, 'infer', 'fp64', 'cpu')


def test_seg_logits_come_at_the_input_size_with_the_auxiliary_head_when_training():
    model, _ = build_model_from_config(
        'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py')
    net = SegLogitsAtInputSize(model).eval()
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        logits = net(x)
        direct = model(x, mode='tensor')
    assert tuple(logits.shape) == (1, 21, 64, 32)
    assert tuple(direct.shape) == (1, 21, 4, 2)
    # the corner values of an align_corners=True resize are the low-resolution corners
    assert torch.allclose(logits[..., 0, 0], direct[..., 0, 0], atol=1e-5)
    assert torch.allclose(logits[..., -1, -1], direct[..., -1, -1], atol=1e-5)
    outs = net.train()(x.repeat(2, 1, 1, 1))  # two images: the ASPP pooling's BN trains
    assert [tuple(o.shape) for o in outs] == [(2, 21, 64, 32), (2, 21, 4, 2)]


def test_ours_are_timed_in_the_inference_form_and_baselines_as_they_ship():
    from mvit3_dense.utils.deploy import count_batch_norms
    plain = prepare(MobileViTv3(arch='xxs'), 'cpu')
    ours = prepare(copy.deepcopy(plain), 'cpu', inference_form=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], plain(x)[0], rtol=1e-5, atol=1e-5)
    assert count_batch_norms(plain) == 32 and count_batch_norms(ours) == 0
    assert ours.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert plain.stem.conv.weight.is_contiguous() and not plain.training
    assert plain.stem.conv.bias is None and ours.stem.conv.bias is not None


def test_tool_times_the_inference_form_unless_no_fuse():
    import importlib.util

    from ..conftest import REPO_ROOT
    spec = importlib.util.spec_from_file_location(
        'benchmark_tool', REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert not tool.parse_args(['cfg.py']).no_fuse
    assert tool.parse_args(['cfg.py', '--no-fuse']).no_fuse
    assert tool.parse_args(['cfg.py']).profile == 0
    assert tool.parse_args(['cfg.py', '--profile', '12']).profile == 12
