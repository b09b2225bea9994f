import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mvit3_dense.datasets import CLASSES, render_object, write_demo_imagenet
from mvit3_dense.datasets import demo_imagenet


def test_layout_labels_and_mmpretrain_reading(tmp_path):
    root = write_demo_imagenet(tmp_path / 'imagenet', {'train': 10, 'val': 6}, size=(40, 48))
    train = (root / 'meta' / 'train.txt').read_text().split('\n')[:-1]
    val = (root / 'meta' / 'val.txt').read_text().split('\n')[:-1]
    # Image i shows class i % 4: train in class folders, val flat.
    assert train[:5] == ['disc/train_00000.JPEG 0', 'square/train_00001.JPEG 1',
                         'triangle/train_00002.JPEG 2', 'cross/train_00003.JPEG 3',
                         'disc/train_00004.JPEG 0']
    assert val[5] == 'val_00005.JPEG 1'
    assert not (tmp_path / 'imagenet.partial').exists()

    from mmpretrain.registry import DATASETS
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(dict(type='ImageNet', data_root=str(root), split='val',
                                  metainfo=dict(classes=CLASSES),
                                  pipeline=[dict(type='LoadImageFromFile')]))
    assert len(dataset) == 6 and dataset.metainfo['classes'] == CLASSES
    assert dataset.get_gt_labels().tolist() == [0, 1, 2, 3, 0, 1]
    assert dataset[5]['img'].shape == (40, 48, 3)


def test_images_are_deterministic_and_labels_checked():
    a = render_object(np.random.default_rng(3), 64, 1)
    b = render_object(np.random.default_rng(3), 64, 1)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match='label must index CLASSES'):
        render_object(np.random.default_rng(3), 64, len(CLASSES))


def test_bad_split_and_existing_root_are_refused(tmp_path):
    with pytest.raises(ValueError, match='train and/or val'):
        write_demo_imagenet(tmp_path / 'a', {'test': 2})
    (tmp_path / 'b').mkdir()
    with pytest.raises(FileExistsError, match='exists already'):
        write_demo_imagenet(tmp_path / 'b', {'train': 2})


def test_failing_writer_leaves_nothing_behind(tmp_path, monkeypatch):
    calls = []

    def render_then_fail(rng, size, label):
        calls.append(label)
        if len(calls) == 3:
            raise RuntimeError('disk full')
        return render_object(rng, size, label)

    monkeypatch.setattr(demo_imagenet, 'render_object', render_then_fail)
    with pytest.raises(RuntimeError, match='disk full'):
        write_demo_imagenet(tmp_path / 'imagenet', {'train': 5}, size=32)
    assert not (tmp_path / 'imagenet').exists()
    assert not (tmp_path / 'imagenet.partial').exists()
