"""The demo sets as the package writes them: one entry for all tasks, layout and counts."""
import json
import runpy

import pytest

from mvit3_dense.datasets import (DEMO_SETS, DemoSet, count_images, write_demo_coco,
                                  write_demo_data, write_demo_imagenet, write_demo_set,
                                  write_demo_voc)

from ..conftest import REPO_ROOT

SMALL = {'cls': DemoSet('imagenet', {'train': 4, 'val': 2}, 96, write_demo_imagenet),
         'seg': DemoSet('voc', {'train': 3, 'val': 2}, 128, write_demo_voc),
         'det': DemoSet('coco', {'train': 3, 'val': 1}, 160, write_demo_coco)}


@pytest.fixture
def small_sets(monkeypatch):
    for task, demo_set in SMALL.items():
        monkeypatch.setitem(DEMO_SETS, task, demo_set)


def test_the_shipped_sizes_are_those_the_demo_configs_were_tuned_for():
    sizes = {task: (s.folder, s.splits, s.size) for task, s in DEMO_SETS.items()}
    assert sizes == {'cls': ('imagenet', {'train': 800, 'val': 200}, 96),
                     'seg': ('voc', {'train': 600, 'val': 100}, 128),
                     'det': ('coco', {'train': 800, 'val': 100}, 160)}


def test_write_demo_data_writes_each_layout_with_its_counts(small_sets, tmp_path):
    written = write_demo_data(tmp_path, ['cls', 'seg', 'det'])
    assert written == {'cls': tmp_path / 'imagenet', 'seg': tmp_path / 'voc',
                       'det': tmp_path / 'coco'}
    voc = tmp_path / 'voc'
    assert len(list((voc / 'JPEGImages').glob('*.jpg'))) == 5
    assert len(list((voc / 'SegmentationClass').glob('*.png'))) == 5
    assert (voc / 'ImageSets/Segmentation/val.txt').read_text().split() == ['val_00000',
                                                                              'val_00001']
    imagenet = tmp_path / 'imagenet'
    assert len(list((imagenet / 'train').rglob('*.JPEG'))) == 4
    assert sorted(p.name for p in (imagenet / 'train').iterdir()) == sorted(
        ['disc', 'square', 'triangle', 'cross'])
    assert len(list((imagenet / 'val').glob('*.JPEG'))) == 2
    coco = json.loads((tmp_path / 'coco/annotations/instances_train.json').read_text())
    assert len(coco['images']) == 3 and len(list((tmp_path / 'coco/train').glob('*.jpg'))) == 3
    assert count_images('cls', imagenet) == {'train': 4, 'val': 2}
    assert count_images('seg', voc) == {'train': 3, 'val': 2}
    assert count_images('det', tmp_path / 'coco') == {'train': 3, 'val': 1}


def test_an_existing_set_is_kept_unless_forced(small_sets, tmp_path):
    root = tmp_path / 'voc'
    assert write_demo_set('seg', root) is True
    (root / 'ImageSets/Segmentation/val.txt').write_text('val_00000\n')
    assert write_demo_set('seg', root) is False
    assert count_images('seg', root) == {'train': 3, 'val': 1}
    assert write_demo_set('seg', root, force=True) is True
    assert count_images('seg', root) == {'train': 3, 'val': 2}
    with pytest.raises(ValueError, match=r"unknown demo task 'pose'; choose from \['cls', 'det', "
                                         r"'seg'\]"):
        write_demo_set('pose', tmp_path / 'x')


def test_make_demo_data_is_a_cli_over_write_demo_data(small_sets, tmp_path, capsys):
    main = runpy.run_path(str(REPO_ROOT / 'tools/demo/make_demo_data.py'))['main']
    main(['--out', str(tmp_path), '--task', 'seg', 'det'])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f'seg: {tmp_path / "voc"} (3 train, 2 val images) written in ')
    assert out[1].startswith(f'det: {tmp_path / "coco"} (3 train, 1 val images) written in ')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['coco', 'voc']
    main(['--out', str(tmp_path), '--task', 'seg'])
    assert capsys.readouterr().out == (f'seg: {tmp_path / "voc"} exists, kept '
                                       '(use --force to write it again)\n')
