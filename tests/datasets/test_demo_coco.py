import json

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image
from pycocotools.coco import COCO

from mvit3_dense.datasets import CLASSES, render_scene, write_demo_coco
from mvit3_dense.datasets.demo_coco import annotation_file, coco_instances


def test_write_demo_coco_layout_and_annotations(tmp_path):
    root = write_demo_coco(tmp_path / 'coco', {'train': 3, 'val': 2}, size=64, seed=5)
    assert not (tmp_path / 'coco.partial').exists()
    assert sorted(p.name for p in (root / 'val').iterdir()) == ['val_00000.jpg', 'val_00001.jpg']
    image = Image.open(root / 'val' / 'val_00001.jpg')
    assert image.mode == 'RGB' and image.size == (64, 64)

    data = json.loads((root / annotation_file('val')).read_text())
    assert [c['name'] for c in data['categories']] == list(CLASSES)
    assert [c['id'] for c in data['categories']] == [1, 2, 3, 4]
    assert data['images'][1] == dict(id=2, file_name='val_00001.jpg', height=64, width=64)
    # The annotations of image 2 are the visible boxes of the scene that split 1, image 1 renders.
    _, instances = render_scene(np.random.default_rng((5, 1, 1)), 64)
    anns = [a for a in data['annotations'] if a['image_id'] == 2]
    assert len(anns) == len(instances)
    for ann, inst in zip(anns, instances):
        x1, y1, x2, y2 = inst['bbox']
        assert ann['bbox'] == [x1, y1, x2 - x1, y2 - y1]
        assert ann['category_id'] == inst['label'] + 1
        assert ann['area'] == inst['mask'].sum() and ann['iscrowd'] == 0
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])

    with pytest.raises(FileExistsError, match='exists already'):
        write_demo_coco(root, {'val': 1}, size=64)


def test_coco_instances_by_hand():
    mask = np.zeros((8, 10), bool)
    mask[2:5, 3:9] = True
    data = coco_instances([('a.jpg', 8, 10, [dict(label=2, mask=mask, bbox=(3., 2., 9., 5.))]),
                           ('b.jpg', 8, 10, [])], classes=('x', 'y', 'z'))
    assert data['images'] == [dict(id=1, file_name='a.jpg', height=8, width=10),
                              dict(id=2, file_name='b.jpg', height=8, width=10)]
    assert data['annotations'] == [
        dict(id=1, image_id=1, category_id=3, bbox=[3., 2., 6., 3.], area=18., iscrowd=0)]
    assert data['categories'] == [dict(id=1, name='x'), dict(id=2, name='y'), dict(id=3, name='z')]


def test_demo_set_has_classes_scales_and_border_objects(tmp_path):
    root = write_demo_coco(tmp_path / 'coco', {'val': 40}, size=160, seed=0)
    coco = COCO(str(root / annotation_file('val')))  # pycocotools reads it as COCO
    anns = coco.loadAnns(coco.getAnnIds())
    assert {a['category_id'] for a in anns} == {1, 2, 3, 4}
    sides = np.sqrt([a['area'] for a in anns])
    assert sides.min() < 0.5 * sides.max()  # objects at several scales
    boxes = np.array([a['bbox'] for a in anns])
    touching = (boxes[:, 0] <= 0) | (boxes[:, 1] <= 0) | (boxes[:, 0] + boxes[:, 2] >= 160) | (
        boxes[:, 1] + boxes[:, 3] >= 160)
    assert 0 < touching.sum() < len(anns)


def test_mmdet_coco_dataset_reads_the_demo_set(tmp_path):
    from mmdet.datasets import CocoDataset
    root = write_demo_coco(tmp_path / 'coco', {'train': 3}, size=64, seed=2)
    init_default_scope('mmdet')
    dataset = CocoDataset(
        data_root=str(root), ann_file=annotation_file('train'), data_prefix=dict(img='train/'),
        metainfo=dict(classes=CLASSES),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True)])
    assert len(dataset) == 3
    assert dataset.metainfo['classes'] == CLASSES
    sample = dataset[1]
    _, instances = render_scene(np.random.default_rng((2, 0, 1)), 64)
    assert np.array_equal(sample['gt_bboxes'].numpy(), np.array([i['bbox'] for i in instances],
                                                                np.float32))
    assert list(sample['gt_bboxes_labels']) == [i['label'] for i in instances]
    assert sample['img'].shape == (64, 64, 3)
