"""tools/test.py on the detection demo config, COCO mAP by hand, and the demo model learning."""
import json
import pickle
import re

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmdet.evaluation import CocoMetric
from mmdet.registry import DATASETS, MODELS
from PIL import Image

from mvit3_dense.datasets import CLASSES, write_demo_coco
from mvit3_dense.utils.config_loader import load_config
from mvit3_dense.utils.errors import InputError
from mvit3_dense.utils.input_checks import check_data

from ..conftest import REPO_ROOT as REPO, run_tool

DEMO = REPO / 'configs/demo/ssdlite_mobilevitv3-xxs_1xb8-1000it_demo-coco-160x160.py'
IOU_THRS = np.linspace(0.5, 0.95, 10)


def test_missing_demo_coco_names_the_layout_and_the_generator(tmp_path):
    missing = tmp_path / 'nowhere'
    cfg = load_config(str(DEMO), {'train_dataloader.dataset.data_root': str(missing)})
    with pytest.raises(InputError) as err:
        check_data(cfg, ['train_dataloader'])
    message = str(err.value)
    assert f'data root not found: {missing}' in message
    assert 'train/, annotations/instances_train.json' in message
    assert 'make_demo_data.py --out data/demo --task det' in message


def _write_coco(path, images, anns, categories=None):
    """A COCO json: images (id, h, w), anns (image id, category id, xyxy box), categories
    (id, name), by default the demo classes with ids from 1."""
    if categories is None:
        categories = [(i + 1, name) for i, name in enumerate(CLASSES)]
    data = dict(
        images=[dict(id=i, file_name=f'{i}.jpg', height=h, width=w) for i, h, w in images],
        annotations=[
            dict(id=k, image_id=img, category_id=cat, bbox=[x1, y1, x2 - x1, y2 - y1],
                 area=(x2 - x1) * (y2 - y1), iscrowd=0)
            for k, (img, cat, (x1, y1, x2, y2)) in enumerate(anns, start=1)
        ],
        categories=[dict(id=i, name=name) for i, name in categories])
    path.write_text(json.dumps(data))


def _iou(a, b):
    w = max(0., min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0., min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def _coco_map(tmp_path, anns, preds):
    """mmdet's CocoMetric (pycocotools) on one 100x100 image; preds: (label, box, score)."""
    ann_file = tmp_path / 'gt.json'
    _write_coco(ann_file, [(1, 100, 100)], anns)
    metric = CocoMetric(ann_file=str(ann_file), metric='bbox')
    metric.dataset_meta = dict(classes=CLASSES)
    pred = dict(
        bboxes=torch.tensor([p[1] for p in preds], dtype=torch.float32),
        scores=torch.tensor([p[2] for p in preds]),
        labels=torch.tensor([p[0] for p in preds]))
    metric.process({}, [dict(img_id=1, ori_shape=(100, 100), pred_instances=pred)])
    return metric.evaluate(1)


def test_coco_map_of_perfect_predictions_is_one(tmp_path):
    anns = [(1, 1, (10., 10., 30., 30.)), (1, 2, (40., 30., 90., 80.)), (1, 2, (0., 0., 20., 50.))]
    preds = [(cat - 1, box, 0.9) for _, cat, box in anns]
    result = _coco_map(tmp_path, anns, preds)
    assert result['coco/bbox_mAP'] == 1.0
    assert result['coco/bbox_mAP_50'] == 1.0 and result['coco/bbox_mAP_75'] == 1.0


def test_coco_map_of_shifted_boxes_by_hand(tmp_path):
    # Class 1: a small box (20x20 = 400 px < 32^2) found exactly. Class 2: a medium box (50x50) whose
    # prediction is shifted 10 px to the right: IoU 40 * 50 / (2 * 2500 - 2000) = 2 / 3.
    small, medium = (10., 10., 30., 30.), (40., 30., 90., 80.)
    shifted = (50., 30., 100., 80.)
    iou = _iou(medium, shifted)
    assert iou == pytest.approx(2 / 3)
    result = _coco_map(tmp_path, [(1, 1, small), (1, 2, medium)],
                       [(0, small, 0.9), (1, shifted, 0.8)])
    # One object per class and one detection: AP is 1 at every IoU threshold the match passes,
    # 0 at the others; COCO's mAP averages the 10 thresholds 0.50:0.05:0.95, then the classes.
    ap_shifted = float(np.mean(iou >= IOU_THRS))  # 0.5, 0.55, 0.6, 0.65 pass: 0.4
    assert ap_shifted == pytest.approx(0.4)
    assert result['coco/bbox_mAP'] == pytest.approx(round((1 + ap_shifted) / 2, 3))
    assert result['coco/bbox_mAP_50'] == 1.0
    assert result['coco/bbox_mAP_75'] == 0.5
    # Size breakdown: the small box is class 1's only object, the medium one class 2's.
    assert result['coco/bbox_mAP_s'] == 1.0
    assert result['coco/bbox_mAP_m'] == pytest.approx(round(ap_shifted, 3))
    assert result['coco/bbox_mAP_l'] == -1.0


def _one_box_checkpoint(path, label):
    """Demo model whose only confident detection is anchor 0 of the global map, as ``label``.

    All predictor weights are zero, so every output is its bias: background wins everywhere
    except on that anchor, where class ``label`` does.
    """
    cfg = load_config(str(DEMO))
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    model.init_weights()
    head = model.bbox_head
    per_anchor = 4 + head.cls_out_channels
    with torch.no_grad():
        for i, pred in enumerate(head.predictors):
            conv = pred if isinstance(pred, torch.nn.Conv2d) else pred.pointwise_conv.conv
            conv.weight.zero_()
            bias = torch.zeros(head.num_base_priors[i], per_anchor)
            bias[:, 4] = 10.  # background (the authors' class 0, channel 4 of each anchor)
            if i == len(head.predictors) - 1:
                bias[0, 5 + label] = 20.
            conv.bias.copy_(bias.flatten())
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    # That anchor in pixels of the 160x160 input: centred, side s_5 = 0.1 + 5 * 0.95 / 6.
    side = (0.1 + 5 * 0.95 / 6) * 160
    return (80 - side / 2, 80 - side / 2, 80 + side / 2, 80 + side / 2)


def test_tools_test_prints_coco_map_and_draws_boxes(tmp_path):
    root = tmp_path / 'coco'
    (root / 'val').mkdir(parents=True)
    Image.fromarray(np.full((160, 160, 3), 120, np.uint8)).save(root / 'val' / '1.jpg')
    gt = (20., 20., 132., 132.)  # large (112^2 > 96^2), inside the predicted box
    _write_coco(root / 'ann.json', [(1, 160, 160)], [(1, 3, gt)])
    anchor = _one_box_checkpoint(tmp_path / 'one_box.pth', label=2)
    iou = _iou(gt, anchor)
    assert 0.6 < iou < 0.65

    show_dir = tmp_path / 'show'
    proc = run_tool(
        'tools/test.py', DEMO, tmp_path / 'one_box.pth', '--work-dir', tmp_path / 'work',
        '--show-dir', show_dir, '--out', tmp_path / 'dets.pkl',
        '--cfg-options', f'test_dataloader.dataset.data_root={root}',
        'test_dataloader.dataset.ann_file=ann.json', 'test_dataloader.dataset.data_prefix.img=val/',
        f'test_evaluator.ann_file={root / "ann.json"}')
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = dict(mAP=np.mean(iou >= IOU_THRS), mAP_50=1., mAP_75=0., mAP_s=-1., mAP_m=-1.,
                    mAP_l=np.mean(iou >= IOU_THRS))
    for key, value in expected.items():
        found = re.search(rf'^coco/bbox_{key}: (-?[\d.]+)$', proc.stdout, re.M)
        assert found, proc.stdout
        assert float(found.group(1)) == pytest.approx(value, abs=1e-3), key

    # --out: per-image detections in the image's pixels, best first, top one the model's box.
    with open(tmp_path / 'dets.pkl', 'rb') as f:
        dumped = pickle.load(f)
    assert len(dumped) == 1 and dumped[0]['img_id'] == 1
    pred = {k: np.asarray(v) for k, v in dumped[0]['pred_instances'].items()}
    boxes, scores, labels = pred['bboxes'], pred['scores'], pred['labels']
    assert boxes.shape == (len(scores), 4) and 1 <= len(scores) <= 100
    assert (boxes[:, [0, 2]] >= 0).all() and (boxes[:, [0, 2]] <= 160).all()
    assert (boxes[:, [1, 3]] >= 0).all() and (boxes[:, [1, 3]] <= 160).all()
    assert (np.diff(scores) <= 0).all() and (scores >= 0).all() and (scores <= 1).all()
    assert ((labels >= 0) & (labels < len(CLASSES))).all()
    assert labels[0] == 2 and scores[0] > 0.99
    assert boxes[0] == pytest.approx(np.array(anchor), abs=0.5)

    drawn = np.asarray(Image.open(show_dir / '1.jpg'))
    assert drawn.shape == (160, 320, 3)  # ground truth left, prediction right
    grey = np.array([120, 120, 120])
    # The edges of the ground-truth box (left) and of the predicted box (right) are drawn.
    assert np.abs(drawn[76, int(gt[0])].astype(int) - grey).max() > 30
    assert np.abs(drawn[76, 160 + round(anchor[0])].astype(int) - grey).max() > 30
    assert np.abs(drawn[76, 80].astype(int) - grey).max() < 30  # inside: untouched


def test_demo_model_learns_a_handful_of_scenes(tmp_path):
    write_demo_coco(tmp_path / 'coco', {'train': 4}, size=160, seed=1)
    cfg = load_config(str(DEMO))
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    cfg.train_dataloader.dataset.data_root = str(tmp_path / 'coco')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    losses = []
    model.train()
    for _ in range(40):
        losses.append(model.train_step(batch, optim)['loss'].item())
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.3 * first, losses


# ----------------------------------------------------------------------------------------------
# MobileViTv3CocoMetric: COCO statistics as the authors compute them


def _authors_metric(tmp_path, categories, anns, preds, images=((1, 100, 100), )):
    """MobileViTv3CocoMetric on hand-made ground truth; preds: per image (label, box, score)."""
    from mvit3_dense.evaluation import MobileViTv3CocoMetric
    _write_coco(tmp_path / 'gt.json', images, anns, categories)
    metric = MobileViTv3CocoMetric(ann_file=str(tmp_path / 'gt.json'))
    metric.dataset_meta = dict(classes=tuple(name for _, name in sorted(categories)))
    for (img, _, _), image_preds in zip(images, preds):
        pred = dict(
            bboxes=torch.tensor([p[1] for p in image_preds], dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor([p[2] for p in image_preds], dtype=torch.float32),
            labels=torch.tensor([p[0] for p in image_preds], dtype=torch.long))
        metric.process({}, [dict(img_id=img, ori_shape=(100, 100), pred_instances=pred)])
    return metric.evaluate(len(images))


def test_authors_metric_reads_at_100_detections_per_image(tmp_path):
    # One object; 100 wrong (small) boxes score higher than the right one, the 101st. COCOeval's
    # default maxDets (1, 10, 100) never reach it: every AP is 0. mmdet's CocoMetric sets maxDets
    # to (100, 300, 1000): its mAP is still read at 100, but AP50, AP75 and the size APs at 1000.
    target = (10., 10., 50., 50.)
    wrong = [(0, (60. + k % 10, 60., 70. + k % 10, 70.), 0.9 - k * 1e-3) for k in range(100)]
    preds = [wrong + [(0, target, 0.5)]]
    ours = _authors_metric(tmp_path, [(1, 'a')], [(1, 1, target)], preds)
    assert ours['coco/bbox_mAP'] == ours['coco/bbox_mAP_50'] == ours['coco/bbox_mAP_m'] == 0
    assert ours['coco/bbox_AR@100'] == 0
    mmdet = _coco_map(tmp_path, [(1, 1, target)], preds[0])
    assert mmdet['coco/bbox_mAP'] == 0
    assert mmdet['coco/bbox_mAP_50'] == pytest.approx(1 / 101, abs=1e-3)
    assert mmdet['coco/bbox_mAP_m'] == 1.0


def test_authors_metric_maps_labels_to_sorted_category_ids_unrounded(tmp_path):
    # Categories listed out of order: label k is the (k+1)-th smallest id (7 -> label 0).
    small, medium = (10., 10., 30., 30.), (40., 30., 90., 80.)
    shifted = (50., 30., 100., 80.)  # IoU 2/3 with medium: AP 0.4 (see above)
    result = _authors_metric(tmp_path, [(9, 'b'), (7, 'a')], [(1, 7, small), (1, 9, medium)],
                             [[(0, small, 0.9), (1, shifted, 0.8)]])
    assert result['coco/bbox_mAP'] == pytest.approx(0.7, abs=1e-12)
    assert result['coco/bbox_mAP_50'] == pytest.approx(1, abs=1e-12)
    assert result['coco/bbox_mAP_75'] == pytest.approx(0.5, abs=1e-12)
    assert result['coco/bbox_AR@1'] == pytest.approx(0.7, abs=1e-12)
    assert result['coco/bbox_mAP_l'] == -1.0
    # Unrounded: a third of the objects of one category found.
    anns = [(1, 7, small), (1, 7, medium), (1, 7, (5., 60., 25., 95.))]
    third = _authors_metric(tmp_path, [(7, 'a')], anns, [[(0, small, 0.9)]])
    assert third['coco/bbox_AR@100'] == pytest.approx(1 / 3, abs=1e-12)
    assert len(third) == 12


def test_authors_metric_without_detections_and_with_a_label_out_of_range(tmp_path):
    empty = _authors_metric(tmp_path, [(1, 'a')], [(1, 1, (10., 10., 50., 50.))], [[]])
    assert empty['coco/bbox_mAP'] == 0 and empty['coco/bbox_AR@100'] == 0
    with pytest.raises(ValueError, match='predicted label 3 has no category'):
        _authors_metric(tmp_path, [(1, 'a')], [(1, 1, (10., 10., 50., 50.))],
                        [[(3, (10., 10., 50., 50.), 0.9)]])
