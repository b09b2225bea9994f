import pytest
import torch
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import ConversionError, convert_checkpoint_file
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT, SHIPPED_REFERENCE, reference_root
from ..pipeline.test_det_authors import match_detections

XXS_COCO = 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py'
XXS_WEIGHTS = 'ssdlite_mobilevitv3_xxs_coco_state_dict.pt'
XXS_IO = ('io', 'io_256x320')  # 1x3x320x320 and 1x3x256x320 (H=256)
MAPS = ['fm_os16', 'fm_os32', 'fm_os64', 'fm_os128', 'fm_os256', 'fm_os-1']


def ssdlite_xxs_reference(name):
    """The authors' SSDLite-XXS COCO weights and their outputs on fixture input ``name``.

    Returns ``(weights_path, io)``. io holds ``x``, ``index`` (anchors whose raw outputs are
    stored), ``scores_raw`` / ``boxes_raw`` / ``anchors`` at those anchors, the feature maps
    stored (``fm_os*``) and ``det_boxes`` / ``det_labels`` / ``det_scores`` (``det_all``: all the
    authors' detections, else their best 150). From the reference folder's fixtures when present
    (every anchor, every map, every detection), else from the shipped subset
    (``tests/data/authors/det/make_det_subset.py``), the input regenerated from its seed.
    """
    fixtures = reference_root() / 'fixtures'
    full = fixtures / f'ssdlite_mobilevitv3_xxs_coco_{name}.pt'
    if full.is_file():
        io = torch.load(full, map_location='cpu', weights_only=True)
        count = io['scores_raw'].shape[1]
        return fixtures / XXS_WEIGHTS, dict(
            io, index=torch.arange(count), scores_raw=io['scores_raw'][0],
            boxes_raw=io['boxes_raw'][0], anchors=io['anchors'][0], det_all=True)
    shipped = SHIPPED_REFERENCE / 'det'
    stored = torch.load(shipped / 'ssdlite_mobilevitv3_xxs_coco_io_subset.pt', map_location='cpu',
                        weights_only=True)
    io = {key[len(name) + 1:]: value for key, value in stored.items()
          if key.startswith(f'{name}.')}
    x = torch.randn(*io.pop('x_shape').tolist(), generator=torch.Generator().manual_seed(1))
    assert torch.equal(x.flatten()[:16], io.pop('x_head')), 'torch.randn no longer gives the input'
    return shipped / XXS_WEIGHTS, dict(io, x=x, det_labels=io['det_labels'].long(), det_all=False)


@pytest.fixture(scope='module')
def converted_ssdlite(tmp_path_factory):
    weights, _ = ssdlite_xxs_reference('io')
    dst = tmp_path_factory.mktemp('det') / 'ssdlite_xxs_coco.pth'
    info = convert_checkpoint_file(weights, dst, kind='detector', progress=False)
    assert (info.kind, info.arch, info.num_classes, info.meta['dataset']) == (
        'detector', 'xxs', 81, 'coco')
    assert info.config.endswith(XXS_COCO.split('/')[-1])
    model, _ = build_model_from_config(REPO_ROOT / XXS_COCO)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    return model.eval()


def relative_diff(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


def flatten_outputs(cls_scores, bbox_preds):
    """Raw scores (the authors' class order: background first) and boxes, one row per anchor in
    the authors' order: map, then location (row-major), then anchor."""
    scores = torch.cat([s.permute(0, 2, 3, 1).reshape(-1, 81) for s in cls_scores])
    boxes = torch.cat([b.permute(0, 2, 3, 1).reshape(-1, 4) for b in bbox_preds])
    return torch.cat([scores[:, -1:], scores[:, :-1]], dim=1), boxes


@pytest.mark.parametrize('name', XXS_IO)
def test_ssdlite_raw_outputs_and_anchors_equal_the_authors(converted_ssdlite, name):
    model = converted_ssdlite
    _, io = ssdlite_xxs_reference(name)
    with torch.no_grad():
        feats = model.extract_feat(io['x'])
        cls_scores, bbox_preds = model.bbox_head(feats)
    compared = [key for key in MAPS if key in io]
    assert compared[-4:] == MAPS[-4:]
    for ours, key in zip(feats, MAPS):
        if key in io:
            assert relative_diff(ours, io[key]) <= 1e-4, key
    scores, boxes = flatten_outputs(cls_scores, bbox_preds)
    index = io['index']
    assert index.max() < len(scores) and len(index) == len(io['scores_raw'])
    assert relative_diff(scores[index], io['scores_raw']) <= 1e-4
    assert relative_diff(boxes[index], io['boxes_raw']) <= 1e-4
    generator = model.bbox_head.prior_generator
    anchors = torch.cat([generator.single_level_normalized_priors(f.shape[-2:], i)
                         for i, f in enumerate(feats)])
    assert (anchors[index] - io['anchors']).abs().max().item() <= 1e-6


@pytest.mark.parametrize('name', XXS_IO)
def test_ssdlite_detections_match_the_authors(converted_ssdlite, name):
    """The v1-based post-processing: every detection of the authors (or their best 150)."""
    from mmdet.structures import DetDataSample
    model = converted_ssdlite
    _, io = ssdlite_xxs_reference(name)
    height, width = io['x'].shape[2:]
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    with torch.no_grad():
        pred = model.predict(io['x'], [DetDataSample(metainfo=meta)], rescale=False)[0]
    pred = pred.pred_instances
    # rescale=False: pixels of the input, not clipped; the authors' boxes are fractions of it.
    # Unclipped boxes reach |11| (float32 steps of 1e-6): 1e-4 of the input, 0.03 px.
    ours = (pred.bboxes / torch.tensor([width, height, width, height]), pred.scores,
            pred.labels + 1)
    theirs = (io['det_boxes'], io['det_scores'], io['det_labels'])
    if io['det_all']:
        assert len(ours[1]) == len(theirs[1])
        assert match_detections(ours, theirs, box_tol=1e-4) == len(theirs[1])
        return
    # The shipped best 150: each is one of ours, and our best 100 are among them.
    assert len(ours[1]) > 150
    assert match_detections(ours, theirs, box_tol=1e-4) == len(theirs[1])
    best = ours[1].argsort(descending=True)[:100]
    assert match_detections(theirs, tuple(t[best] for t in ours), box_tol=1e-4) == 100


def test_refuses_a_config_of_another_variant(tmp_path):
    weights, _ = ssdlite_xxs_reference('io')
    other = REPO_ROOT / 'configs/ssdlite/ssdlite_mobilevitv3-s_4xb32-200e_coco-320x320.py'
    with pytest.raises(ConversionError, match='holds SSDLite MobileViTv3-xxs but'):
        convert_checkpoint_file(weights, tmp_path / 'out.pth', kind='detector', config=str(other),
                                progress=False)
    assert not (tmp_path / 'out.pth').exists()
