"""Data problems are counted and named (file, value), then refused, or, where the library's
convention ignores them, reported once with the counts; never a silent wrong number."""
import json
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mvit3_dense.datasets import write_demo_coco, write_demo_voc
from mvit3_dense.utils.config_loader import load_config
from mvit3_dense.utils.data_checks import check_datasets
from mvit3_dense.utils.errors import InputError
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from .test_bad_inputs import call_tool

SEG = str(REPO_ROOT / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py')
DET = str(REPO_ROOT / 'configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py')
SHORT_TRAIN = ['train_cfg.max_iters=2', 'train_dataloader.batch_size=2',
               'train_dataloader.sampler.shuffle=False', 'val_cfg=None', 'val_dataloader=None',
               'val_evaluator=None']


@pytest.fixture(scope='module')
def voc(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('voc')
    root = write_demo_voc(tmp / 'clean', {'train': 2, 'val': 2}, size=128)
    model, _ = build_model_from_config(SEG)
    checkpoint = tmp / 'seg.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return dict(tmp=tmp, root=root, checkpoint=checkpoint)


def broken_copy(voc, name):
    root = voc['tmp'] / name
    shutil.copytree(voc['root'], root)
    return root


def split_names(root, split):
    return (root / 'ImageSets' / 'Segmentation' / f'{split}.txt').read_text().split()


def train(root, work_dir, capsys, *options):
    return call_tool('tools/train.py', [SEG, '--work-dir', work_dir, '--cfg-options',
                                        f'train_dataloader.dataset.data_root={root}',
                                        *SHORT_TRAIN, *options], capsys)


def evaluate(voc, root, work_dir, capsys):
    return call_tool('tools/test.py', [SEG, voc['checkpoint'], '--work-dir', work_dir,
                                       '--cfg-options', f'test_dataloader.dataset.data_root={root}'],
                     capsys)


def write_label_sevens(root, split, pixels):
    """Give the first mask of ``split`` the label 7 (the demo has 5 classes) on ``pixels``."""
    mask_path = root / 'SegmentationClass' / f'{split_names(root, split)[0]}.png'
    mask = np.array(Image.open(mask_path))
    mask.reshape(-1)[:pixels] = 7
    Image.fromarray(mask).save(mask_path)
    return mask_path


def test_labels_outside_the_classes_stop_training_naming_the_mask(voc, tmp_path, capsys):
    root = broken_copy(voc, 'sevens_train')
    mask_path = write_label_sevens(root, 'train', 40)
    status, line, _ = train(root, tmp_path, capsys)
    assert status == 1
    assert line == (f'error: {mask_path} holds labels outside the 5 classes (0-4) and the ignore '
                    'index 255: 7 (40 pixels). Fix the mask, or make num_classes (or the '
                    "dataset's reduce_zero_label) match the data.")


def test_labels_outside_the_classes_are_counted_in_evaluation(voc, tmp_path, capsys):
    root = broken_copy(voc, 'sevens_val')
    mask_path = write_label_sevens(root, 'val', 25)
    status, _, output = evaluate(voc, root, tmp_path, capsys)
    assert status == 0 and 'mIoU: ' in output
    assert re.search(r'25 ground-truth pixels in 1 masks hold labels outside the 5 classes and '
                     rf'the ignore index 255 \(values \[7\]; e\.g\. {re.escape(str(mask_path))}: '
                     r'\[7\]\); the metric leaves them out', output), output[-3000:]


def test_an_empty_split_is_named(voc, tmp_path, capsys):
    root = broken_copy(voc, 'empty_split')
    split = root / 'ImageSets' / 'Segmentation' / 'train.txt'
    split.write_text('\n')
    status, line, _ = train(root, tmp_path, capsys)
    assert status == 1 and line.startswith(f'error: train_dataloader: the split file {split} '
                                           'is empty: it names no image.')


def test_a_split_naming_a_missing_image_is_named(voc, tmp_path, capsys):
    root = broken_copy(voc, 'missing_image')
    split = root / 'ImageSets' / 'Segmentation' / 'train.txt'
    split.write_text(split.read_text() + 'absent_scene\n')
    status, line, _ = train(root, tmp_path, capsys)
    missing = root / 'JPEGImages' / 'absent_scene.jpg'
    assert status == 1 and line.startswith(
        f'error: train_dataloader: 1 of the 3 images named by {split} do not exist '
        f'(e.g. {missing}).')


def test_a_zero_byte_image_is_named(voc, tmp_path, capsys):
    root = broken_copy(voc, 'zero_byte')
    image = root / 'JPEGImages' / f"{split_names(root, 'val')[1]}.jpg"
    image.write_bytes(b'')
    status, line, _ = evaluate(voc, root, tmp_path, capsys)
    assert status == 1 and line.startswith(
        f'error: test_dataloader: 1 files are empty (0 bytes): {image}.')


def test_a_one_pixel_image_is_named(voc, tmp_path, capsys):
    root = broken_copy(voc, 'one_pixel')
    name = split_names(root, 'val')[0]
    image = root / 'JPEGImages' / f'{name}.jpg'
    Image.new('RGB', (1, 1), (10, 20, 30)).save(image)
    Image.fromarray(np.zeros((1, 1), np.uint8)).save(root / 'SegmentationClass' / f'{name}.png')
    status, line, _ = evaluate(voc, root, tmp_path, capsys)
    assert status == 1 and line.startswith(
        f'error: test_dataloader: 1 images are one pixel high or wide: {image} (1x1); ')


# --- COCO -------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('coco')
    root = write_demo_coco(tmp / 'clean', {'train': 2, 'val': 2}, size=160)
    return dict(tmp=tmp, root=root)


def edited_coco(coco, name, split, edit):
    root = coco['tmp'] / name
    shutil.copytree(coco['root'], root)
    ann = root / 'annotations' / f'instances_{split}.json'
    data = json.loads(ann.read_text())
    edit(data)
    ann.write_text(json.dumps(data))
    return root, ann


def det_train(root, work_dir, capsys):
    return call_tool('tools/train.py', [DET, '--work-dir', work_dir, '--cfg-options',
                                        f'train_dataloader.dataset.data_root={root}',
                                        *SHORT_TRAIN], capsys)


def test_coco_boxes_of_zero_width_are_refused_when_nothing_else_is_left(coco, tmp_path, capsys):
    def flatten(data):
        for a in data['annotations']:
            a['bbox'][2] = 0

    root, ann = edited_coco(coco, 'zero_width', 'train', flatten)
    status, line, _ = det_train(root, tmp_path, capsys)
    count = len(json.loads(ann.read_text())['annotations'])
    assert status == 1 and line.startswith(
        f'error: train_dataloader: {ann}: {count} of {count} boxes are under one pixel wide or '
        'high (e.g. annotation ')
    assert line.endswith('mmdet drops such boxes, and no other box is left to train on. Write '
                         'the boxes as [x, y, width, height] in pixels.')


def test_some_coco_boxes_of_zero_width_are_counted_once(coco, tmp_path, capsys):
    def flatten_one(data):
        data['annotations'][0]['bbox'][3] = 0.5

    root, ann = edited_coco(coco, 'one_flat', 'train', flatten_one)
    from mmengine.config import Config
    cfg = Config.fromfile(DET)
    cfg.train_dataloader.dataset.data_root = str(root)
    check_datasets(cfg, ['train_dataloader'], training=True)
    err = capsys.readouterr().err.strip().splitlines()
    total = len(json.loads(ann.read_text())['annotations'])
    assert len(err) == 1 and err[0].startswith(
        f'warning: train_dataloader: {ann}: 1 of {total} boxes are under one pixel wide or high')
    assert err[0].endswith('; they are left out, as mmdet does.')


def test_coco_category_ids_not_in_categories_are_refused(coco, tmp_path, capsys):
    def unknown(data):
        data['annotations'][0]['category_id'] = 99

    root, ann = edited_coco(coco, 'unknown_category', 'val', unknown)
    model, _ = build_model_from_config(DET)
    checkpoint = tmp_path / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    status, line, _ = call_tool('tools/test.py', [
        DET, checkpoint, '--work-dir', tmp_path, '--cfg-options',
        f'test_dataloader.dataset.data_root={root}', f'test_evaluator.ann_file={ann}'], capsys)
    assert status == 1 and line.startswith(
        f'error: test_dataloader: {ann}: 1 annotations have category ids not in its categories '
        '(99; declared: ')


def test_coco_under_another_root_names_the_evaluator_file(coco, tmp_path, capsys):
    model, _ = build_model_from_config(DET)
    checkpoint = tmp_path / 'det.pth'
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    root = coco['root']
    # the config's evaluator file under its own data root (data/demo/coco/...), made certain
    # to be absent here
    old = tmp_path / 'data/demo/coco/annotations/instances_val.json'
    status, line, _ = call_tool('tools/test.py', [
        DET, checkpoint, '--work-dir', tmp_path, '--cfg-options',
        f'test_dataloader.dataset.data_root={root}', f'test_evaluator.ann_file={old}'], capsys)
    read = root / 'annotations' / 'instances_val.json'
    assert status == 1 and line.startswith(f'error: test_evaluator.ann_file not found: {old}; ')
    assert line.endswith(f'; the test_dataloader reads {read}: pass --cfg-options '
                         f'test_evaluator.ann_file={read}')


def test_a_missing_image_in_the_second_part_of_the_voc_aug_concat_is_named(voc, tmp_path):
    """The VOC aug configs train on ConcatDataset([VOC train, SBD aug]): a file missing in the
    second part is named, with its split file, as in a plain dataset."""
    root = broken_copy(voc, 'aug_missing')
    shutil.copytree(root / 'SegmentationClass', root / 'SegmentationClassAug')
    aug = root / 'ImageSets' / 'Segmentation' / 'aug.txt'
    aug.write_text('\n'.join(split_names(root, 'train') + ['absent_aug']) + '\n')
    config = REPO_ROOT / 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
    cfg = load_config(str(config), {'data_root': str(root)})
    parts = cfg.train_dataloader.dataset.datasets
    assert cfg.train_dataloader.dataset.type == 'ConcatDataset'
    assert [p.data_root for p in parts] == [str(root), str(root)]
    with pytest.raises(InputError) as err:
        check_datasets(cfg, ['train_dataloader'], training=True)
    missing = root / 'JPEGImages' / 'absent_aug.jpg'
    assert str(err.value).startswith(f'train_dataloader: 1 of the 3 images named by {aug} do not '
                                     f'exist (e.g. {missing}).')
    # the complete set passes
    aug.write_text('\n'.join(split_names(root, 'train')) + '\n')
    check_datasets(cfg, ['train_dataloader'], training=True)
