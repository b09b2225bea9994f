"""Images smaller than the network stride or of extreme aspect ratio still get full predictions,
brought back to the image the way each family's authors do it."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mvit3_dense.utils.model_builder import build_model_from_config

from .conftest import REPO_ROOT

SEG = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
SEG_V2 = 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb4-120e_ade20k-512x512.py'
DET = 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py'
SIZES = [(31, 31), (64, 1024), (1024, 64)]
# The network input of each image size, by hand. v1 VOC: a fixed 512x512 resize (already a
# multiple of the output stride 16). v2 ADE20K: shorter side to 512, the longer one scaled alike
# (1024 * 512 / 64 = 8192), already multiples of the output stride 8.
NETWORK_INPUT = {
    SEG: {(31, 31): (512, 512), (64, 1024): (512, 512), (1024, 64): (512, 512)},
    SEG_V2: {(31, 31): (512, 512), (64, 1024): (512, 8192), (1024, 64): (8192, 512)},
}


def image(height, width):
    return np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)


# The 512x8192 inputs of the v2 config take one to two minutes each on a shared 2-core CPU.
SEG_CASES = [
    pytest.param(config, size, marks=[pytest.mark.slow] if max(NETWORK_INPUT[config][size]) > 4096
                 else [], id=f"{'v1' if config == SEG else 'v2'}-{size[0]}x{size[1]}")
    for config in (SEG, SEG_V2) for size in SIZES
]


@pytest.mark.parametrize('config, size', SEG_CASES)
def test_segmentation_mask_is_the_argmax_of_the_logits_resized_as_the_authors(config, size):
    from mmseg.apis import inference_model
    torch.manual_seed(0)
    model, cfg = build_model_from_config(REPO_ROOT / config)
    model.cfg = cfg
    seen = {}
    model.backbone.register_forward_pre_hook(lambda _, args: seen.update(input=args[0]))
    model.decode_head.register_forward_hook(lambda _, args, out: seen.update(logits=out))
    with torch.no_grad():
        result = inference_model(model.eval(), image(*size))

    net_size = NETWORK_INPUT[config][size]
    assert tuple(seen['input'].shape) == (1, 3, *net_size)
    logits = seen['logits']  # (1, classes, H / OS, W / OS)
    if config == SEG:
        # v1: bilinear (align_corners=False) to the network input, then NEAREST to the image:
        # output pixel i takes input pixel floor(i * in / out).
        up = F.interpolate(logits, size=net_size, mode='bilinear', align_corners=False)[0]
        rows = torch.arange(size[0]) * net_size[0] // size[0]
        cols = torch.arange(size[1]) * net_size[1] // size[1]
        expected = up[:, rows][:, :, cols]
    else:
        # v2: the 1/8 logits resized once, bilinear with align_corners=True, to the image.
        expected = F.interpolate(logits, size=size, mode='bilinear', align_corners=True)[0]
    assert expected.shape == (model.decode_head.num_classes, *size)
    assert torch.equal(result.seg_logits.data, expected)
    assert torch.equal(result.pred_sem_seg.data, expected.argmax(0, keepdim=True))


@pytest.mark.parametrize('size', SIZES)
def test_detection_boxes_are_rescaled_to_the_image_and_lie_in_it(size):
    from mmdet.apis import inference_detector
    torch.manual_seed(0)
    model, cfg = build_model_from_config(REPO_ROOT / DET, {'model.test_cfg.score_thr': 0})
    model.cfg = cfg
    seen = {}
    model.bbox_head.register_forward_hook(lambda _, args, out: seen.update(out=out))
    with torch.no_grad():
        result = inference_detector(model.eval(), image(*size))

    height, width = size
    meta = result.metainfo
    assert meta['ori_shape'] == size and meta['img_shape'] == (320, 320)
    scale_w, scale_h = meta['scale_factor']
    assert (scale_w, scale_h) == pytest.approx((320 / width, 320 / height))
    boxes = result.pred_instances.bboxes
    assert len(boxes) > 0 and torch.isfinite(boxes).all()
    x1, y1, x2, y2 = boxes.unbind(1)
    assert ((0 <= x1) & (x1 <= x2) & (x2 <= width)).all()
    assert ((0 <= y1) & (y1 <= y2) & (y2 <= height)).all()

    # By hand from the same detections at the 320x320 input: divided by the scale factor, then
    # clipped to the image.
    cls_scores, bbox_preds = seen['out']
    at_input = model.bbox_head.predict_by_feat(
        cls_scores, bbox_preds, batch_img_metas=[meta], rescale=False)[0]
    expected = at_input.bboxes / torch.tensor([scale_w, scale_h, scale_w, scale_h])
    expected[:, 0::2] = expected[:, 0::2].clamp(0, width)
    expected[:, 1::2] = expected[:, 1::2].clamp(0, height)
    torch.testing.assert_close(boxes, expected)
    assert torch.equal(result.pred_instances.labels, at_input.labels)
    # Some boxes leave the 320x320 input's frame at this scale, so the clipping is exercised.
    assert ((at_input.bboxes < 0) | (at_input.bboxes > 320)).any()
