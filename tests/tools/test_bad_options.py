"""Bad configs and command lines stop with one line naming the problem and the fix."""
import pytest

from ..conftest import REPO_ROOT
from .test_bad_inputs import call_tool

CONFIG = str(REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py')


def test_a_config_syntax_error_names_the_file_and_line(tmp_path, capsys):
    config = tmp_path / 'broken.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\nmodel = dict(backbone=dict(arch="xs")\n')
    status, line, _ = call_tool('tools/train.py', [config], capsys)
    assert status == 1
    assert line == (f"error: config {config} line 2: '(' was never closed. Fix the file (a "
                    'Python file of assignments).')


def test_a_syntax_error_in_a_base_config_names_the_base(tmp_path, capsys):
    base = tmp_path / 'base.py'
    base.write_text('x = 1\ny = [1, 2\n')
    config = tmp_path / 'child.py'
    config.write_text("_base_ = ['base.py']\nz = 3\n")
    status, line, _ = call_tool('tools/test.py', [config, 'any.pth'], capsys)
    assert status == 1 and line.startswith(f"error: config {base} line 2: '[' was never closed")


def test_a_misspelled_top_level_option_is_refused(tmp_path, capsys):
    status, line, _ = call_tool('tools/train.py', [CONFIG, '--work-dir', tmp_path,
                                                   '--cfg-options', 'randomnes.seed=5'], capsys)
    assert status == 1
    assert line == ("error: --cfg-options randomnes.seed: the config has no setting 'randomnes' "
                    "(did you mean 'randomness'?); check the spelling against the config file")


def test_an_option_without_equals_is_a_usage_error(tmp_path, capsys):
    status, line, _ = call_tool('tools/train.py', [CONFIG, '--cfg-options', 'train_cfg.max_iters'],
                                capsys)
    assert status == 2
    assert line.endswith('error: --cfg-options train_cfg.max_iters: each option is KEY=VALUE '
                         '(e.g. train_cfg.max_iters=100)')


@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
def test_launcher_pytorch_without_torchrun_says_how_to_start(tmp_path, capsys, monkeypatch, tool):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / 'voc'
    from mvit3_dense.datasets import write_demo_voc
    write_demo_voc(root, {'train': 1, 'val': 1}, size=64)
    ckpt = tmp_path / 'x.pth'
    ckpt.write_bytes(b'unused')
    argv = [CONFIG] + ([ckpt] if tool.endswith('test.py') else []) + [
        '--launcher', 'pytorch', '--work-dir', tmp_path / 'work', '--cfg-options',
        f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}']
    status, line, _ = call_tool(tool, argv, capsys)
    assert status == 1
    assert line.startswith('error: --launcher pytorch needs the variables torchrun sets (RANK, '
                           'WORLD_SIZE, MASTER_ADDR, MASTER_PORT not set): start with bash '
                           'tools/dist_train.sh CONFIG GPUS')


@pytest.mark.parametrize('option, message', [
    ('model.backbone.arch=q', "unknown MobileViTv3 arch 'q': choose one of "),
    ('model.backbone.output_stride=4', 'output_stride must be 8, 16 or 32, got 4'),
    ('model.backbone.frozen_stages=9', 'frozen_stages must be in -1..5, got 9'),
])
def test_backbone_setting_errors_are_one_line(tmp_path, capsys, option, message):
    from mvit3_dense.datasets import write_demo_voc
    root = write_demo_voc(tmp_path / 'voc', {'train': 1}, size=64)
    status, line, _ = call_tool('tools/train.py', [
        CONFIG, '--work-dir', tmp_path, '--cfg-options', option, 'val_cfg=None',
        'val_dataloader=None', 'val_evaluator=None', f'train_dataloader.dataset.data_root={root}'],
        capsys)
    assert status == 1
    assert line.startswith(f'error: model.backbone: {message}'), line
    assert line.endswith('Fix the backbone settings in the config, or with --cfg-options '
                         'model.backbone.KEY=VALUE')
