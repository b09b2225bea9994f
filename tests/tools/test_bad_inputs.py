"""Inputs that cannot work fail with one clear line naming them, not a traceback."""
import runpy
import sys

import pytest

from mvit3_dense.datasets import write_demo_voc

from ..conftest import REPO_ROOT, run_tool

CONFIG = 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py'


@pytest.fixture(scope='module')
def broken_set(tmp_path_factory):
    root = write_demo_voc(tmp_path_factory.mktemp('data') / 'voc', {'train': 4, 'val': 2},
                          size=128)
    image = sorted((root / 'JPEGImages').iterdir())[0]
    image.write_bytes(image.read_bytes()[:40])  # a truncated JPEG
    return root, image


def call_tool(script, argv, capsys):
    """Run a tool's ``main(argv)`` in this process (no interpreter start-up per case).

    Returns (exit status, last line printed to stderr, everything printed)."""
    main = runpy.run_path(str(REPO_ROOT / script))['main']
    try:
        status = main([str(a) for a in argv])
        status = status if isinstance(status, int) else 0
    except SystemExit as stop:
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
            status = 1
        else:
            status = stop.code or 0
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    return status, err[-1] if err else '', captured.out + captured.err


def run(tool, *args):
    return run_tool(f'tools/{tool}.py', CONFIG, *args, timeout=300)


def test_undecodable_image_is_named(broken_set, tmp_path):
    root, image = broken_set
    proc = run('train', '--work-dir', tmp_path, '--cfg-options',
               f'train_dataloader.dataset.data_root={root}', 'train_cfg.max_iters=2',
               'train_dataloader.sampler.shuffle=False', 'val_cfg=None', 'val_dataloader=None',
               'val_evaluator=None')
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: cannot decode image {image}')
    assert 'Replace or remove it' in last


def test_missing_split_file_is_named(broken_set, tmp_path):
    root, _ = broken_set
    proc = run('train', '--work-dir', tmp_path, '--cfg-options',
               f'train_dataloader.dataset.data_root={root}',
               'train_dataloader.dataset.ann_file=ImageSets/Segmentation/absent.txt')
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr
    assert 'ImageSets/Segmentation/absent.txt' in proc.stderr.strip().splitlines()[-1]
