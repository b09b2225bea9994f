"""Images smaller than the network stride or of extreme aspect ratio still get full predictions."""
import numpy as np
import pytest
import torch

from mvit3_dense.utils.model_builder import build_model_from_config

from .conftest import REPO_ROOT

SEG = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
SEG_V2 = 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb4-120e_ade20k-512x512.py'
DET = 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb32-200e_coco-320x320.py'
SIZES = [(31, 31), (64, 1024), (1024, 64)]


def image(height, width):
    return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('config', [SEG, SEG_V2])
@pytest.mark.parametrize('size', SIZES)
def test_segmentation_mask_has_the_image_size(config, size):
    from mmseg.apis import inference_model
    model, cfg = build_model_from_config(REPO_ROOT / config)
    model.cfg = cfg
    result = inference_model(model.eval(), image(*size))
    mask = result.pred_sem_seg.data
    assert mask.shape == (1, *size)
    assert int(mask.max()) < model.decode_head.num_classes


@pytest.mark.parametrize('size', SIZES)
def test_detection_boxes_lie_in_the_image(size):
    from mmdet.apis import inference_detector
    model, cfg = build_model_from_config(REPO_ROOT / DET, {'model.test_cfg.score_thr': 0})
    model.cfg = cfg
    result = inference_detector(model.eval(), image(*size))
    boxes = result.pred_instances.bboxes
    assert len(boxes) > 0 and torch.isfinite(boxes).all()
    assert result.metainfo['ori_shape'] == size
