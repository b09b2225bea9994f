"""The complexity and benchmark command lines, as a user runs them."""
from ..conftest import run_tool

XXS_CLS = 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py'
XXS_VOC = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'


def test_get_flops_prints_the_per_stage_table():
    out = run_tool('tools/analysis_tools/get_flops.py', XXS_CLS)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    # 1,249,448 parameters (the authors' XXS classifier); MACs at 256x256 as in README.
    assert rows['total'] == ['1,249,448', '332.2M', '287.4M']
    assert rows['backbone.layer3'] == ['89,392', '159.9M', '109.6M']


def test_get_flops_takes_a_shape():
    out = run_tool('tools/analysis_tools/get_flops.py', XXS_CLS, '--shape', '128', '128')
    assert out.returncode == 0, out.stderr[-2000:]
    assert '(input 1x3x128x128)' in out.stdout
    total = next(line for line in out.stdout.splitlines() if line.startswith('total')).split()
    assert total[1] == '1,249,448' and float(total[3].rstrip('M')) < 287.4 / 3


def test_benchmark_times_backbone_model_and_baselines():
    out = run_tool('tools/analysis_tools/benchmark.py', XXS_VOC, '--shape', '64', '64',
                   '--warmup', '0', '--iters', '2', '--batch', '2', '--device', 'cpu')
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[0].startswith('infer, batch 2, 64x64, fp32, cpu (timed with time.perf_counter)')
    start = next(i for i, line in enumerate(lines) if line.startswith('model'))
    end = lines.index('', start)
    rows = {line.rsplit(None, 6)[0]: line.rsplit(None, 6)[1:] for line in lines[start + 2:end]}
    assert list(rows)[:3] == ['mvit3_dense MobileViTv3-xxs backbone',
                              'mvit3_dense MobileViTv3EncoderDecoder',
                              'mmpretrain MobileViT-xx_small']
    # parameter counts: backbone, DeepLabv3 (the authors' 1,956,309), mmpretrain's xx_small
    assert [r[-1] for r in list(rows.values())[:3]] == ['669,888', '1,956,309', '951,024']
    assert 'mvit3_dense MobileViTv3-xxs backbone vs mmpretrain MobileViT-xx_small: ' in (
        lines[end + 2])


def test_benchmark_refuses_fp16_on_cpu_and_a_missing_authors_checkout(tmp_path):
    out = run_tool('tools/analysis_tools/benchmark.py', XXS_VOC, '--dtype', 'fp16',
                   '--device', 'cpu')
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1] == (
        'error: --dtype fp16 is CUDA mixed precision; on CPU use --dtype bf16')
    out = run_tool('tools/analysis_tools/benchmark.py', XXS_VOC, '--device', 'cpu',
                   '--authors-code', tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: --authors-code {tmp_path}: {tmp_path}/v1 is not a checkout')
    assert last.endswith(f'prepare_authors_code.sh {tmp_path}')
