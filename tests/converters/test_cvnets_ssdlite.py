import pytest
import torch
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import ConversionError, convert_checkpoint_file
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT

XXS_COCO = 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb32-200e_coco-320x320.py'
MAPS = ['fm_os16', 'fm_os32', 'fm_os64', 'fm_os128', 'fm_os256', 'fm_os-1']


@pytest.fixture(scope='module')
def converted_ssdlite(reference_dir, tmp_path_factory):
    dst = tmp_path_factory.mktemp('det') / 'ssdlite_xxs_coco.pth'
    info = convert_checkpoint_file(
        reference_dir / 'fixtures' / 'ssdlite_mobilevitv3_xxs_coco_state_dict.pt', dst,
        kind='detector', progress=False)
    assert (info['arch'], info['num_classes'], info['dataset']) == ('xxs', 81, 'coco')
    assert info['config'].endswith(XXS_COCO.split('/')[-1])
    model, _ = build_model_from_config(REPO_ROOT / XXS_COCO)
    load_checkpoint(model, str(dst), map_location='cpu', strict=True)
    return model.eval()


def relative_diff(ours, theirs):
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize('name', ['io', 'io_256x320'])
def test_ssdlite_raw_outputs_and_anchors_equal_the_authors(reference_dir, converted_ssdlite, name):
    model = converted_ssdlite
    io = torch.load(reference_dir / 'fixtures' / f'ssdlite_mobilevitv3_xxs_coco_{name}.pt',
                    weights_only=True)
    with torch.no_grad():
        feats = model.extract_feat(io['x'])
        cls_scores, bbox_preds = model.bbox_head(feats)
    for ours, key in zip(feats, MAPS):
        assert relative_diff(ours, io[key]) <= 1e-4, key
    # Flatten as the authors do: map, then location (row-major), then anchor.
    scores = torch.cat([s.permute(0, 2, 3, 1).reshape(1, -1, 81) for s in cls_scores], dim=1)
    boxes = torch.cat([b.permute(0, 2, 3, 1).reshape(1, -1, 4) for b in bbox_preds], dim=1)
    # mmdet keeps the background as the last class, the authors as class 0.
    scores = torch.cat([scores[..., -1:], scores[..., :-1]], dim=-1)
    assert scores.shape == io['scores_raw'].shape and boxes.shape == io['boxes_raw'].shape
    assert relative_diff(scores, io['scores_raw']) <= 1e-4
    assert relative_diff(boxes, io['boxes_raw']) <= 1e-4
    generator = model.bbox_head.prior_generator
    anchors = torch.cat([generator.single_level_normalized_priors(f.shape[-2:], i)
                         for i, f in enumerate(feats)])
    assert (anchors - io['anchors'][0]).abs().max().item() <= 1e-6


@pytest.mark.parametrize('name', ['io', 'io_256x320'])
def test_ssdlite_top_detections_match_the_authors(reference_dir, converted_ssdlite, name):
    from mmdet.structures import DetDataSample
    model = converted_ssdlite
    io = torch.load(reference_dir / 'fixtures' / f'ssdlite_mobilevitv3_xxs_coco_{name}.pt',
                    weights_only=True)
    height, width = io['x'].shape[2:]
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    with torch.no_grad():
        pred = model.predict(io['x'], [DetDataSample(metainfo=meta)], rescale=False)[0]
    pred = pred.pred_instances
    top = pred.scores.argsort(descending=True)[:100]
    assert len(top) == 100
    boxes = pred.bboxes[top] / torch.tensor([width, height, width, height])
    for box, label, score in zip(boxes, pred.labels[top] + 1, pred.scores[top]):
        same = (io['det_labels'] == label) & ((io['det_scores'] - score).abs() <= 1e-4)
        assert same.any(), (label, score)
        assert (io['det_boxes'][same] - box).abs().max(dim=1).values.min() <= 1e-3
