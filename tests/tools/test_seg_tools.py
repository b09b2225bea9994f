"""tools/train.py, tools/test.py and the segmentation demo, end to end on tiny inputs."""
import json
import re

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS
from PIL import Image

from mvit3_dense.datasets import write_demo_voc
from mvit3_dense.datasets.demo_voc import DEMO_VOC_PALETTE
from mvit3_dense.evaluation.seg_metric import ConfusionMatrixIoUMetric
from mvit3_dense.utils.checkpoint import CONVERTER
from mvit3_dense.utils.config_loader import load_config
from mvit3_dense.utils.errors import InputError
from mvit3_dense.utils.input_checks import check_pretrained
from mvit3_dense.utils.run_config import prepare_train_cfg

from ..conftest import REPO_ROOT as REPO, run_tool

DEMO = REPO / 'configs/demo/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128.py'
VOC_S = REPO / 'configs/deeplabv3/deeplabv3_mobilevitv3-s_4xb12-50e_voc12aug-512x512.py'


def test_train_with_missing_data_root_fails_at_once(tmp_path):
    missing = tmp_path / 'nowhere'
    proc = run_tool('tools/train.py', DEMO, '--work-dir', tmp_path / 'work', '--cfg-options',
                    f'train_dataloader.dataset.data_root={missing}')
    assert proc.returncode != 0
    assert f'data root not found: {missing}' in proc.stderr
    assert 'JPEGImages, SegmentationClass, ImageSets/Segmentation/train.txt' in proc.stderr
    assert 'make_demo_data.py' in proc.stderr
    assert not (tmp_path / 'work').exists()


def test_missing_pretrained_checkpoint_names_the_converter(tmp_path):
    cfg = load_config(str(VOC_S), {'model.backbone.init_cfg.checkpoint': str(tmp_path / 'x.pth')})
    with pytest.raises(InputError, match=re.escape(CONVERTER)) as err:
        check_pretrained(cfg)
    assert str(tmp_path / 'x.pth') in str(err.value)
    assert '--kind backbone' in str(err.value)


def test_train_flags(tmp_path):
    write_demo_voc(tmp_path / 'voc', {'train': 1, 'val': 1}, size=32)
    options = {'train_dataloader.dataset.data_root': str(tmp_path / 'voc'),
               'val_dataloader.dataset.data_root': str(tmp_path / 'voc')}
    cfg = prepare_train_cfg(load_config(str(DEMO), options), str(DEMO), amp=True, resume='auto')
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.resume is True and cfg.load_from is None
    assert cfg.work_dir == './work_dirs/deeplabv3_mobilevitv3-xxs_1xb8-600it_demo-voc-128x128'
    ckpt = tmp_path / 'iter_10.pth'
    ckpt.write_bytes(b'')
    cfg = prepare_train_cfg(load_config(str(DEMO), options), str(DEMO), work_dir='w',
                            resume=str(ckpt))
    assert cfg.resume is True and cfg.load_from == str(ckpt) and cfg.work_dir == 'w'
    assert cfg.optim_wrapper.type == 'OptimWrapper'


def _write_tiny_voc(root):
    """Two 16x16 scenes with hand-made labels (255 = ignored)."""
    a = np.zeros((16, 16), np.uint8)
    a[:4] = 255                # 64 ignored pixels
    a[4:, :8] = 1              # 96 pixels of class 1; the other 96 stay background
    b = np.full((16, 16), 2, np.uint8)
    b[:4, :4] = 1              # 16 pixels of class 1, 240 of class 2
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        (root / sub).mkdir(parents=True)
    palette = [c for colour in DEMO_VOC_PALETTE for c in colour] + [255] * 3 * 251
    for name, label in (('a', a), ('b', b)):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(root / 'JPEGImages' / f'{name}.jpg')
        mask = Image.fromarray(label)
        mask.putpalette(palette)
        mask.save(root / 'SegmentationClass' / f'{name}.png')
    (root / 'ImageSets/Segmentation/val.txt').write_text('a\nb\n')


def test_tools_test_miou_equals_hand_computed_value(tmp_path):
    _write_tiny_voc(tmp_path / 'voc')
    # A checkpoint that predicts class 1 everywhere: the classifier reads nothing but its bias.
    cfg = load_config(str(DEMO))
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        model.decode_head.conv_seg.weight.zero_()
        model.decode_head.conv_seg.bias.copy_(torch.tensor([0., 5., 0., 0., 0.]))
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), tmp_path / 'const.pth')

    proc = run_tool('tools/test.py', DEMO, tmp_path / 'const.pth', '--work-dir', tmp_path / 'work',
                    '--show-dir', tmp_path / 'show', '--out', tmp_path / 'maps',
                    '--cfg-options', f'test_dataloader.dataset.data_root={tmp_path / "voc"}',
                    # Testing needs no training set, even with --show-dir (whose hook reads
                    # runner.iter, which would build the training loop).
                    f'train_dataloader.dataset.data_root={tmp_path / "absent"}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    # --out: one label map per image, class 1 at every pixel, at the image's size.
    maps = sorted((tmp_path / 'maps').glob('*.png'))
    assert [p.name for p in maps] == ['a.png', 'b.png']
    for path in maps:
        label = np.asarray(Image.open(path))
        assert label.shape == (16, 16) and (label == 1).all()
    # --show-dir: a picture of each test image (the demo config draws every one), ground truth
    # and prediction side by side.
    pictures = sorted((tmp_path / 'show').rglob('*.png'))
    assert [p.name.split('.jpg')[0] for p in pictures] == ['test_a', 'test_b']
    assert np.asarray(Image.open(pictures[0])).shape == (16, 32, 3)
    # Labelled pixels: 192 + 256 = 448, all predicted 1. Class 0: 0 / 96; class 1: 112 / 448;
    # class 2: 0 / 240; classes 3 and 4 appear nowhere and are left out of the mean.
    # mIoU = (0 + 0.25 + 0) / 3 = 8.33 %, overall accuracy 112 / 448 = 25 %.
    assert re.search(r'^mIoU: 8\.33\d*$', proc.stdout, re.M), proc.stdout
    assert re.search(r'^aAcc: 25\.0\d*$', proc.stdout, re.M), proc.stdout


def test_demo_model_learns_a_handful_of_scenes(tmp_path):
    write_demo_voc(tmp_path / 'voc', {'train': 6}, size=96, seed=1)
    cfg = load_config(str(DEMO))
    cfg.model.data_preprocessor.size = (96, 96)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'voc')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    losses = []
    model.train()
    for _ in range(40):
        batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
        losses.append(model.train_step(batch, optim)['loss'].item())
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.3 * first, losses


def _sample(pred, label, name):
    return dict(pred_sem_seg=dict(data=torch.tensor(pred)[None]),
                gt_sem_seg=dict(data=torch.tensor(label)[None]), img_path=f'images/{name}.jpg')


def test_confusion_matrix_metric_scores_as_the_authors(tmp_path):
    """Hand-computed: out-of-range labels dropped, one matrix, plain mean of the IoUs."""
    metric = ConfusionMatrixIoUMetric(output_dir=str(tmp_path / 'maps'))
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    # Image 1: labels 0 0 1 | 255 5 (both ignored); predictions 0 1 1 | 2 2.
    # Image 2: label 1, predicted 1.
    metric.process({}, [_sample([[0, 1, 1, 2, 2]], [[0, 0, 1, 255, 5]], 'one'),
                        _sample([[1]], [[1]], 'two')])
    metrics = metric.compute_metrics(metric.results)
    # Rows GT, columns prediction: [[1, 1, 0], [0, 2, 0], [0, 0, 0]].
    # IoU a = 1 / (2 + 1 - 1) = 0.5, b = 2 / (2 + 3 - 2) = 2/3, c = 0 / 0 = NaN.
    assert np.isnan(metrics['mIoU'])  # the authors' plain mean
    assert metrics['mIoU_nanmean'] == pytest.approx(100 * (0.5 + 2 / 3) / 2)
    assert metrics['aAcc'] == pytest.approx(75.0)
    saved = json.loads((tmp_path / 'maps' / 'confusion_matrix.json').read_text())
    assert saved['confusion_matrix'] == [[1, 1, 0], [0, 2, 0], [0, 0, 0]]
    assert saved['iou_per_class'][:2] == pytest.approx([0.5, 2 / 3])
    assert saved['iou_per_class'][2] is None
    assert saved['miou_authors'] is None and saved['n_images'] == 2
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'maps' / 'one.png')), [[0, 1, 1, 2, 2]])


def test_confusion_matrix_metric_refuses_resized_ground_truth():
    metric = ConfusionMatrixIoUMetric()
    metric.dataset_meta = dict(classes=('a', 'b'))
    with pytest.raises(ValueError, match='at the original image size'):
        metric.process({}, [_sample([[0, 1]], [[0], [1]], 'x')])
