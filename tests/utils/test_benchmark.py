import torch

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.benchmark import (benchmark, format_results, make_step, nearest_baselines,
                                         peak_memory, prepare)


def test_peak_memory_grows_with_the_batch():
    step = make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')
    small = peak_memory(step, torch.randn(1, 3, 64, 64), 'cpu')
    large = peak_memory(step, torch.randn(4, 3, 64, 64), 'cpu')
    # The stem output alone (16 x 32 x 32 floats per image) must be held at some point.
    assert small >= 16 * 32 * 32 * 4
    assert large > 3 * small


def test_benchmark_reports_every_model_against_the_reference():
    x = torch.randn(2, 3, 64, 64)
    steps = {'ours': make_step(prepare(MobileViTv3(arch='xxs'), 'cpu'), 'infer', 'fp32', 'cpu')}
    for name, model in nearest_baselines('xxs').items():
        steps[name] = make_step(prepare(model, 'cpu'), 'infer', 'fp32', 'cpu')
    results = benchmark(steps, x, warmup=1, iters=2)
    assert [r.name for r in results] == ['ours', 'mmpretrain MobileViT-xx_small'] + (
        ['timm mobilevit_xxs'] if len(steps) == 3 else [])
    assert all(len(r.latencies) == 2 and r.batch == 2 and r.peak_bytes > 0 for r in results)
    table = format_results(results, 'ours')
    assert '1.00x' in table.splitlines()[2]


def test_training_step_updates_the_weights():
    model = prepare(MobileViTv3(arch='0.5', out_indices=(4, 5)), 'cpu')
    step = make_step(model, 'train', 'fp32', 'cpu')
    before = model.layer5[1].fusion.conv.weight.clone()
    step(torch.randn(2, 3, 64, 64))
    assert model.training and not torch.equal(before, model.layer5[1].fusion.conv.weight)
