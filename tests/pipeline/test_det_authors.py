"""The authors' detection evaluation, reproduced with the shipped configs and ``tools/test.py``.

Two cases of the reference (``pipeline/README.md``, section 3): SSDLite-XXS (v1-based code) and
SSDLite-0.75 (v2-based code) on COCO, seven photographs with COCO-style ground truth, laid out as
COCO 2017 (``annotations/instances_val2017.json``, ``val2017/``). With the reference folder
present every stored image of both cases is checked against the stored tensors; on a plain clone
``tests/data/authors/det/`` (see its ``make_det_subset.py``) allows the input checks of both
cases (hashes) and the whole v1 evaluation (its weights ship); the v2 evaluation needs the 0.75
weights of the reference folder.
"""
import hashlib
import json
import re
import shutil

import mmengine
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmdet.registry import DATASETS, MODELS

from mvit3_dense.converters import convert_checkpoint_file
from mvit3_dense.evaluation import MobileViTv3CocoMetric
from mvit3_dense.evaluation.det_metric import STAT_NAMES
from mvit3_dense.utils.config_loader import load_config

from ..conftest import REPO_ROOT, SHIPPED_REFERENCE, missing_reference, reference_root, run_tool

SHIPPED = SHIPPED_REFERENCE / 'det'
CASES = {
    'det_v1_xxs_coco': dict(
        config='configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py',
        weights='ssdlite_mobilevitv3_xxs_coco_state_dict.pt', arch='xxs'),
    'det_v2_0.75_coco': dict(
        config='configs/ssdlite/ssdlite_mobilevitv3-0.75_4xb32-200e_coco-320x320.py',
        weights='ssdlite_mobilevitv3_0.75_coco_state_dict.pt', arch='0.75'),
}
BOX_TOL = 0.01  # pixels of the original image
SCORE_TOL = 1e-5
STATS_TOL = 1e-4


def load_case(name):
    """The reference of one case: the stored tensors when the reference folder is present, else
    the shipped subset (``full`` False: input hashes only; detections and statistics for v1)."""
    pipeline = reference_root() / 'pipeline'
    hashes = json.loads((SHIPPED / 'inputs.json').read_text())[name]
    if (pipeline / f'{name}.pt').is_file():
        stored = torch.load(pipeline / f'{name}.pt', map_location='cpu', weights_only=True)
        return dict(stored, full=True, hashes=hashes, images=pipeline / 'images',
                    gt=pipeline / 'gt_coco' / 'instances_val2017.json')
    case = dict(full=False, hashes=hashes, files=hashes['files'], image_ids=hashes['image_ids'],
                family='v1' if 'v1' in name else 'v2', images=SHIPPED_REFERENCE / 'images',
                gt=SHIPPED / 'instances_val2017.json')
    expected = SHIPPED / f'{name}_expected.pt'
    if expected.is_file():
        stored = torch.load(expected, map_location='cpu', weights_only=True)
        split = stored['n_dets'].tolist()
        labels = stored['labels'].long().split(split)
        cat_ids = sorted(c['id'] for c in json.loads(case['gt'].read_text())['categories'])
        case.update(boxes_xyxy=stored['boxes_xyxy'].split(split),
                    scores=stored['scores'].split(split), labels=labels,
                    category_ids=[torch.tensor([cat_ids[k - 1] for k in lab.tolist()],
                                               dtype=torch.long) for lab in labels],
                    coco_stats=stored['coco_stats'], n_dets=stored['n_dets'])
    return case


def write_coco_layout(root, case):
    """The photographs and ground truth as COCO 2017 under ``root``; returns the data root."""
    (root / 'annotations').mkdir(parents=True)
    (root / 'val2017').mkdir()
    shutil.copyfile(case['gt'], root / 'annotations' / 'instances_val2017.json')
    for file in case['files']:
        shutil.copyfile(case['images'] / file, root / 'val2017' / file)
    return root


def data_options(data_root):
    """The only settings changed in the shipped configs: where the data is."""
    return {
        'test_dataloader.dataset.data_root': f'{data_root}/',
        'test_evaluator.ann_file': f'{data_root}/annotations/instances_val2017.json',
    }


def authors_weights(name):
    """The case's state_dict: the reference folder's fixture, else the shipped copy (v1)."""
    for path in (reference_root() / 'fixtures' / CASES[name]['weights'],
                 SHIPPED / CASES[name]['weights']):
        if path.is_file():
            return path
    missing_reference(f'{CASES[name]["weights"]} not found in {reference_root() / "fixtures"} '
                      '(too large to ship)')


def match_detections(ours, theirs, box_tol=BOX_TOL, score_tol=SCORE_TOL):
    """How many of the authors' detections pair one-to-one with one of ours.

    ``ours`` and ``theirs`` are ``(boxes [n, 4], scores [n], categories [n])``. A pair has the same
    category, scores within ``score_tol`` and every box coordinate within ``box_tol``; the
    authors' detections are paired best score first, each with the first such box of ours left.
    """
    matched = 0
    for category in theirs[2].unique():
        t_sel, o_sel = theirs[2] == category, ours[2] == category
        t_boxes, t_scores = theirs[0][t_sel].double(), theirs[1][t_sel].double()
        o_boxes, o_scores = ours[0][o_sel].double(), ours[1][o_sel].double()
        if len(o_scores) == 0:
            continue
        close = ((t_boxes[:, None] - o_boxes[None]).abs().amax(-1) <= box_tol) & (
            (t_scores[:, None] - o_scores[None]).abs() <= score_tol)
        free = torch.ones(len(o_scores), dtype=torch.bool)
        for i in t_scores.argsort(descending=True, stable=True).tolist():
            found = (close[i] & free).nonzero()
            if len(found):
                free[found[0, 0]] = False
                matched += 1
    return matched


# ----------------------------------------------------------------------------------------------
# What enters the network


@pytest.mark.parametrize('name', sorted(CASES))
def test_dataset_and_network_inputs_equal_the_authors(name, tmp_path):
    case = load_case(name)
    cfg = load_config(str(REPO_ROOT / CASES[name]['config']),
                      data_options(write_coco_layout(tmp_path / 'coco', case)))
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    preprocessor = MODELS.build(cfg.model.data_preprocessor)
    hashes = case['hashes']
    assert len(dataset) == len(case['files'])
    for i, file in enumerate(case['files']):
        sample = dataset[i]
        assert sample['data_samples'].img_path.endswith(file)
        assert sample['data_samples'].img_id == case['image_ids'][i]
        assert list(sample['data_samples'].ori_shape) == hashes['orig_hw'][i], file
        inputs = sample['inputs']  # uint8 CHW as mmcv loads it: BGR
        authors_order = inputs if case['family'] == 'v1' else inputs.flip(0)
        assert list(authors_order.shape) == hashes['shape'], file
        if case['full']:
            diff = (authors_order.int() - case['input_u8'][i].int()).abs().max().item()
            assert diff == 0, (file, diff)
        digest = hashlib.sha256(authors_order.contiguous().numpy().tobytes()).hexdigest()
        assert digest == hashes['sha256'][i], file
        # The data preprocessor gives the authors' model input, input_u8.float() / 255, exactly.
        with torch.no_grad():
            network_input = preprocessor(pseudo_collate([sample]), False)['inputs'][0]
        assert torch.equal(network_input, authors_order.float() / 255), file


def test_greyscale_photo_is_read_as_three_equal_channels(tmp_path):
    case = load_case('det_v2_0.75_coco')
    cfg = load_config(str(REPO_ROOT / CASES['det_v2_0.75_coco']['config']),
                      data_options(write_coco_layout(tmp_path / 'coco', case)))
    init_default_scope('mmdet')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    index = case['files'].index('camera_gray_512x512.jpg')
    inputs = dataset[index]['inputs']
    assert inputs.shape[0] == 3
    assert torch.equal(inputs[0], inputs[1]) and torch.equal(inputs[1], inputs[2])


# ----------------------------------------------------------------------------------------------
# tools/test.py end to end

_RUNS = {}


def tool_run(name, tmp_path_factory):
    """Convert the authors' weights and run ``tools/test.py`` with the shipped config (once)."""
    if name not in _RUNS:
        case = load_case(name)
        weights = authors_weights(name)
        work = tmp_path_factory.mktemp(name)
        info = convert_checkpoint_file(weights, work / 'detector.pth', kind='detector',
                                       progress=False)
        assert info.arch == CASES[name]['arch'] and info.config.endswith(
            CASES[name]['config'].split('/')[-1])
        data_root = write_coco_layout(work / 'coco', case)
        options = [f'{key}={value}' for key, value in data_options(data_root).items()]
        proc = run_tool('tools/test.py', CASES[name]['config'], work / 'detector.pth',
                        '--work-dir', work / 'work', '--out', work / 'results.pkl',
                        '--cfg-options', *options)
        assert proc.returncode == 0, proc.stderr[-3000:]
        printed = {key: float(value) for key, value in
                   re.findall(r'^coco/bbox_(\S+): (-?[\d.]+)$', proc.stdout, re.M)}
        _RUNS[name] = dict(case=case, results=mmengine.load(work / 'results.pkl'),
                           printed=printed, data_root=data_root)
    return _RUNS[name]


def _needs_outputs(case):
    if 'boxes_xyxy' not in case:
        missing_reference('the v2 outputs and weights are in the reference folder only: '
                          f'{reference_root() / "pipeline"} not found')


@pytest.mark.parametrize('name', sorted(CASES))
def test_tools_test_gives_the_authors_detections(name, tmp_path_factory):
    _needs_outputs(load_case(name))
    run = tool_run(name, tmp_path_factory)
    case, results = run['case'], run['results']
    cat_ids = sorted(c['id'] for c in json.loads(case['gt'].read_text())['categories'])
    assert [r['img_id'] for r in results] == list(case['image_ids'])
    total = matched = 0
    for i, result in enumerate(results):
        pred = result['pred_instances']
        categories = torch.tensor([cat_ids[k] for k in pred['labels'].tolist()], dtype=torch.long)
        ours = (pred['bboxes'], pred['scores'], categories)
        theirs = (case['boxes_xyxy'][i], case['scores'][i], case['category_ids'][i].long())
        assert len(ours[1]) == len(theirs[1]), case['files'][i]
        # The authors' order (v1: grouped by class, v2: by score), up to equal scores.
        assert (ours[1] - theirs[1]).abs().max() <= SCORE_TOL, case['files'][i]
        # Positions may differ only between scores the authors tie within the score tolerance
        # (the inference form, batch norms folded, moves scores by ~1e-6).
        swapped = (ours[2] != theirs[2]).nonzero().flatten()
        close = (theirs[1][1:] - theirs[1][:-1]).abs() <= SCORE_TOL
        tied = torch.cat([close, torch.tensor([False])]) | torch.cat([torch.tensor([False]), close])
        assert tied[swapped].all(), (case['files'][i], swapped, theirs[1][swapped])
        total += len(theirs[1])
        matched += match_detections(ours, theirs)
    assert matched == total == int(case['n_dets'].sum())


@pytest.mark.parametrize('name', sorted(CASES))
def test_tools_test_gives_the_authors_coco_statistics(name, tmp_path_factory):
    _needs_outputs(load_case(name))
    run = tool_run(name, tmp_path_factory)
    expected = dict(zip(STAT_NAMES, run['case']['coco_stats'].tolist()))
    # tools/test.py prints four decimals.
    assert set(run['printed']) == set(STAT_NAMES)
    for key, value in expected.items():
        assert abs(run['printed'][key] - value) <= STATS_TOL, (key, run['printed'][key], value)
    # The same metric on the --out results, unrounded.
    metric = MobileViTv3CocoMetric(
        ann_file=str(run['data_root'] / 'annotations' / 'instances_val2017.json'))
    metric.dataset_meta = dict(classes=tuple(f'c{i}' for i in range(80)))
    metric.process({}, run['results'])
    stats = metric.evaluate(len(run['results']))
    for key, value in expected.items():
        assert abs(stats[f'coco/bbox_{key}'] - value) <= 1e-12, key
