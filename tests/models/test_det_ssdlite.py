import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample

from mvit3_dense.models.det import (MobileViTv3SSDAnchorGenerator, MobileViTv3SSDHead,
                                    MobileViTv3SSDNeck)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'

# The authors' SSDLite parameter counts (spec; reference detection.tsv: params_total,
# params_extra_layers, params_ssd_heads), 80 classes + background.
PARAMS = {
    'ssdlite_mobilevitv3-s_4xb32-200e_coco-320x320.py': (5_547_882, 148_032, 906_058),
    'ssdlite_mobilevitv3-xs_4xb32-200e_coco-320x320.py': (2_666_938, 105_312, 815_946),
    'ssdlite_mobilevitv3-xxs_4xb32-200e_coco-320x320.py': (1_533_450, 96_768, 766_794),
    'ssdlite_mobilevitv3-1.0_4xb32-200e_coco-320x320.py': (5_846_451, 199_296, 1_020_746),
    'ssdlite_mobilevitv3-0.75_4xb32-200e_coco-320x320.py': (3_718_587, 165_120, 938_826),
    'ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320x320.py': (2_094_787, 130_944, 790_858),
}
V1_CONFIG = 'ssdlite_mobilevitv3-xxs_4xb32-200e_coco-320x320.py'
V2_CONFIG = 'ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320x320.py'


def count(module):
    return sum(p.numel() for p in module.parameters())


def build(name):
    cfg = Config.fromfile(CONFIG_DIR / 'ssdlite' / name)
    init_default_scope('mmdet')
    init_cfg = cfg.model.backbone.pop('init_cfg')  # no converted weights needed to count or run
    assert init_cfg.type == 'Pretrained' and init_cfg.checkpoint == cfg.checkpoint
    return cfg, revert_sync_batchnorm(MODELS.build(cfg.model))


def test_every_det_config_is_covered():
    found = {p.name for p in (CONFIG_DIR / 'ssdlite').glob('*.py')}
    assert found == set(PARAMS)


@pytest.mark.parametrize('name', sorted(PARAMS))
def test_param_counts_match_the_authors(name):
    cfg, model = build(name)
    total, extra, heads = PARAMS[name]
    assert count(model) == total
    assert count(model.neck) == extra
    assert count(model.bbox_head) == heads
    assert isinstance(model.neck, MobileViTv3SSDNeck)
    assert isinstance(model.bbox_head, MobileViTv3SSDHead)
    # The recipe pieces every config carries.
    assert cfg.model.backbone.out_indices == (4, 5)
    assert cfg.model.backbone.with_exp_conv is False
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 0.0009
    assert cfg.optim_wrapper.optimizer.weight_decay == 0.05
    assert cfg.train_dataloader.batch_size * 4 == 128
    assert cfg.train_cfg.max_epochs == 200
    assert cfg.param_scheduler[0].end == 500
    assert cfg.param_scheduler[1].type == 'CosineAnnealingLR'
    assert [h.type for h in cfg.custom_hooks] == ['EMAHook']
    assert cfg.custom_imports.imports == ['mvit3_dense']
    assert cfg.model.train_cfg.assigner.pos_iou_thr == 0.5
    assert cfg.model.train_cfg.neg_pos_ratio == 3
    assert cfg.model.test_cfg.nms.iou_threshold == 0.5
    assert list(cfg.model.bbox_head.bbox_coder.target_stds) == [0.1, 0.1, 0.2, 0.2]
    # Projections only where a map's channels differ from the predictor's width.
    head = model.bbox_head
    projected = [not isinstance(p, torch.nn.Identity) for p in head.projections]
    differs = [c != p for c, p in zip(head.in_channels[:-1], head.proj_channels[:-1])]
    assert projected == differs + [False]


MAPS_320 = [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]


def test_anchor_counts_per_map():
    gen = MobileViTv3SSDAnchorGenerator()
    assert gen.num_base_priors == [6, 6, 6, 6, 6, 4]
    anchors = gen.grid_priors(MAPS_320, device='cpu', input_size=(320, 320))
    assert [len(a) for a in anchors] == [2400, 600, 150, 54, 24, 4]
    assert sum(len(a) for a in anchors) == 3232
    maps_256x320 = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2), (1, 1)]
    assert sum(len(a) for a in gen.grid_priors(maps_256x320, device='cpu')) == 2572


def test_anchors_by_hand():
    gen = TASK_UTILS.build(dict(type='MobileViTv3SSDAnchorGenerator'))
    anchors = gen.grid_priors(MAPS_320, dtype=torch.float64, device='cpu', input_size=(320, 320))
    s = [0.1 + k * 0.95 / 6 for k in range(7)]  # linspace(0.1, 1.05, 7)

    def box(cx, cy, w, h):  # fractions -> pixels at 320x320
        return torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                            dtype=torch.float64) * 320

    # First location of the 20x20 map: centre (0.5 / 20, 0.5 / 20), the six anchors in order.
    c = 0.5 / 20
    s_max = math.sqrt(s[0] * s[1])
    r2, r3 = math.sqrt(2), math.sqrt(3)
    expected = [(s[0], s[0]), (s_max, s_max), (s[0] * r2, s[0] / r2), (s[0] / r2, s[0] * r2),
                (s[0] * r3, s[0] / r3), (s[0] / r3, s[0] * r3)]
    for k, (w, h) in enumerate(expected):
        torch.testing.assert_close(anchors[0][k], box(c, c, w, h))
    # Row-major: the next location is one cell to the right (x), the 21st one row down (y).
    torch.testing.assert_close(anchors[0][6], box(1.5 / 20, c, s[0], s[0]))
    torch.testing.assert_close(anchors[0][20 * 6], box(c, 1.5 / 20, s[0], s[0]))
    # 3x3 map: centres at thirds of the image, a step of 320 / 3 px.
    torch.testing.assert_close(anchors[3][(1 * 3 + 2) * 6], box(2.5 / 3, 1.5 / 3, s[3], s[3]))
    # Last map (1x1): four anchors, widths above 1 clipped to 1 in the centre form.
    s_max = math.sqrt(s[5] * s[6])
    for k, (w, h) in enumerate([(s[5], s[5]), (s_max, s_max), (1.0, s[5] / r2), (s[5] / r2, 1.0)]):
        torch.testing.assert_close(anchors[5][k], box(0.5, 0.5, w, h))


def test_anchors_follow_the_input_size():
    gen = MobileViTv3SSDAnchorGenerator()
    maps = [(16, 20), (8, 10), (4, 5), (2, 3), (1, 2), (1, 1)]
    cx, cy, w, h = torch.cat(
        [gen.single_level_normalized_priors(m, i) for i, m in enumerate(maps)]).unbind(-1)
    pixels = gen.grid_priors(maps, device='cpu', input_size=(256, 320))
    x1, y1, x2, y2 = torch.cat(pixels).unbind(-1)
    torch.testing.assert_close(x1, (cx - w / 2) * 320)
    torch.testing.assert_close(x2, (cx + w / 2) * 320)
    torch.testing.assert_close(y1, (cy - h / 2) * 256)
    torch.testing.assert_close(y2, (cy + h / 2) * 256)


def _load_authors_head_and_neck(model, state_dict):
    """Copy the authors' extra layers and SSD heads into ours (names mapped here for the test)."""
    ours = {}
    for key, value in state_dict.items():
        parts = key.split('.')
        if key.startswith('extra_layers.os_-1.'):
            ours['neck.global_layer.1.conv.' + parts[-1]] = value
        elif key.startswith('extra_layers.'):
            level = {'os_64': 0, 'os_128': 1, 'os_256': 2}[parts[1]]
            conv = {'dw_conv': 'depthwise_conv', 'pw_conv': 'pointwise_conv'}[parts[2]]
            layer = 'conv' if parts[4] == 'conv' else 'bn'
            ours[f'neck.extra_layers.{level}.{conv}.{layer}.{parts[-1]}'] = value
        elif key.startswith('ssd_heads.'):
            i = parts[1]
            layer = 'conv' if parts[-2] == 'conv' else 'bn'
            if parts[2] == 'proj_layer':
                ours[f'bbox_head.projections.{i}.{layer}.{parts[-1]}'] = value
            elif parts[3] == 'block':  # the last map's plain 1x1 predictor
                ours[f'bbox_head.predictors.{i}.{parts[-1]}'] = value
            else:
                conv = {'dw_conv': 'depthwise_conv', 'pw_conv': 'pointwise_conv'}[parts[3]]
                ours[f'bbox_head.predictors.{i}.{conv}.{layer}.{parts[-1]}'] = value
    missing, unexpected = model.load_state_dict(ours, strict=False)
    assert not unexpected
    assert all(k.startswith('backbone.') for k in missing)


@pytest.mark.parametrize('io_file, size', [
    ('ssdlite_mobilevitv3_xxs_coco_io.pt', (320, 320)),
    ('ssdlite_mobilevitv3_xxs_coco_io_256x320.pt', (256, 320)),
])
def test_neck_head_and_anchors_match_the_authors(reference_dir, io_file, size):
    """Channel layout, class order and anchor order against the authors' SSDLite-XXS outputs."""
    _, model = build(V1_CONFIG)
    weights = reference_dir / 'fixtures' / 'ssdlite_mobilevitv3_xxs_coco_state_dict.pt'
    _load_authors_head_and_neck(model, torch.load(weights, weights_only=True))
    io = torch.load(reference_dir / 'fixtures' / io_file, weights_only=True)
    model.eval()
    names = ['fm_os16', 'fm_os32', 'fm_os64', 'fm_os128', 'fm_os256', 'fm_os-1']
    with torch.no_grad():
        maps = model.neck((io['fm_os16'], io['fm_os32']))
        for ours, name in zip(maps, names):
            torch.testing.assert_close(ours, io[name], atol=1e-4 * io[name].abs().max(), rtol=0)
        cls_scores, bbox_preds = model.bbox_head([io[n] for n in names])

    def flat(levels, channels):
        return torch.cat([t.permute(0, 2, 3, 1).reshape(1, -1, channels) for t in levels], 1)

    scores, boxes = flat(cls_scores, 81), flat(bbox_preds, 4)
    theirs = io['scores_raw']
    theirs = torch.cat([theirs[..., 1:], theirs[..., :1]], -1)  # background last, as mmdet
    torch.testing.assert_close(scores, theirs, atol=1e-4 * theirs.abs().max(), rtol=0)
    theirs = io['boxes_raw']
    torch.testing.assert_close(boxes, theirs, atol=1e-4 * theirs.abs().max(), rtol=0)

    gen = model.bbox_head.prior_generator
    normalised = torch.cat([gen.single_level_normalized_priors(t.shape[-2:], i)
                            for i, t in enumerate(cls_scores)])
    torch.testing.assert_close(normalised, io['anchors'][0], atol=1e-6, rtol=0)
    pixels = torch.cat(gen.grid_priors([t.shape[-2:] for t in cls_scores], device='cpu',
                                       input_size=size))
    assert pixels.shape[0] == io['anchors'].shape[1]


def _batch(size, n=2, empty=()):
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8) for _ in range(n)]
    samples = []
    for i in range(n):
        sample = DetDataSample()
        gt = InstanceData()
        if i in empty:
            gt.bboxes = torch.zeros((0, 4))
            gt.labels = torch.zeros((0, ), dtype=torch.long)
        else:
            gt.bboxes = torch.tensor([[10., 12., 70., 60.], [40., 30., 120., 118.]])
            gt.labels = torch.tensor([3, 17])
        sample.gt_instances = gt
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size,
                                 scale_factor=(1., 1.)))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize('name', [V1_CONFIG, V2_CONFIG])
def test_one_train_iteration_and_inference(name):
    torch.manual_seed(0)
    cfg, model = build(name)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    # One image with objects, one without (only negatives; no box loss from it).
    losses = model.train_step(_batch((128, 128), n=2, empty=(1, )), optim)
    assert {'loss_cls', 'loss_bbox'} <= set(losses)
    assert torch.isfinite(losses['loss']) and losses['loss_bbox'] > 0
    after = model.state_dict()
    for key in ('bbox_head.predictors.0.pointwise_conv.conv.weight',
                'neck.global_layer.1.conv.weight', 'backbone.stem.conv.weight'):
        assert not torch.equal(before[key], after[key]), key

    model.eval()
    with torch.no_grad():
        results = model.test_step(_batch((128, 128), n=1))
    pred = results[0].pred_instances
    assert pred.bboxes.shape[1] == 4 and len(pred.bboxes) <= cfg.model.test_cfg.max_per_img
    assert len(pred.scores) == len(pred.labels) == len(pred.bboxes)
    assert torch.all(pred.scores >= cfg.model.test_cfg.score_thr)
    assert torch.all((pred.labels >= 0) & (pred.labels < 80))


def test_batch_of_one_image_without_objects():
    torch.manual_seed(0)
    cfg, model = build(V1_CONFIG)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    # 320x320 as the configs: the stride-256 map is 2x2, so BN sees more than one value per channel.
    losses = model.train_step(_batch((320, 320), n=1, empty=(0, )), optim)
    # No positives, so no mined negatives either (3:1): a finite zero loss, not NaN.
    assert torch.isfinite(losses['loss']) and losses['loss_cls'] == 0
    assert losses['loss_bbox'] == 0
