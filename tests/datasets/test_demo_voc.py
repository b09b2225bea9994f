import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from mvit3_dense.datasets import CLASSES, DemoVOCDataset, render_scene, write_demo_voc
from mvit3_dense.datasets.demo_voc import DEMO_VOC_CLASSES, label_map
from mvit3_dense.datasets.synthetic import MIN_PIXELS


def test_scene_is_deterministic_and_varies_with_seed():
    a, inst_a = render_scene(np.random.default_rng(7), (96, 128))
    b, inst_b = render_scene(np.random.default_rng(7), (96, 128))
    c, _ = render_scene(np.random.default_rng(8), (96, 128))
    assert a.shape == (96, 128, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert [i['bbox'] for i in inst_a] == [i['bbox'] for i in inst_b]
    assert not np.array_equal(a, c)


def test_instances_are_disjoint_visible_masks_with_tight_boxes():
    labels = set()
    for seed in range(30):
        image, instances = render_scene(np.random.default_rng(seed), 128)
        assert 1 <= len(instances)
        covered = np.zeros(image.shape[:2], bool)
        for inst in instances:
            mask = inst['mask']
            assert mask.sum() >= MIN_PIXELS // 2  # at most half hidden by later objects
            assert not (covered & mask).any()
            covered |= mask
            ys, xs = np.nonzero(mask)
            assert inst['bbox'] == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            labels.add(inst['label'])
    assert labels == set(range(len(CLASSES)))


def test_write_demo_voc_layout_and_dataset(tmp_path):
    root = write_demo_voc(tmp_path / 'voc', {'train': 3, 'val': 2}, size=64, seed=5)
    assert not (tmp_path / 'voc.partial').exists()
    ids = (root / 'ImageSets/Segmentation/val.txt').read_text().split()
    assert ids == ['val_00000', 'val_00001']
    mask = Image.open(root / 'SegmentationClass' / 'val_00001.png')
    assert mask.mode == 'P' and mask.size == (64, 64)
    image = Image.open(root / 'JPEGImages' / 'val_00001.jpg')
    assert image.mode == 'RGB' and image.size == (64, 64)
    # The mask holds the class indices of the scene that split 1, image 1 renders.
    _, instances = render_scene(np.random.default_rng((5, 1, 1)), 64)
    assert np.array_equal(np.asarray(mask), label_map(instances, 64, 64))

    init_default_scope('mmseg')
    dataset = DemoVOCDataset(
        data_root=str(root), ann_file='ImageSets/Segmentation/train.txt',
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')])
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == DEMO_VOC_CLASSES
    sample = dataset[2]
    _, instances = render_scene(np.random.default_rng((5, 0, 2)), 64)
    assert np.array_equal(sample['gt_seg_map'], label_map(instances, 64, 64))

    with pytest.raises(FileExistsError, match='exists already'):
        write_demo_voc(root, {'train': 1})
