"""MobileViTv1 and MobileViTv2 built here reproduce Apple's ml-cvnets models tensor for tensor:
the classifiers, DeepLabv3-MobileViTv1 (VOC) and SSDLite-MobileViTv2 (COCO).

Apple's fixtures (randomised weights, stage outputs and logits; reference folder ``apple/``,
sibling of the MobileViTv3 references) are loaded into our networks by pairing the two
state dicts in module order, each pair with the same shape: both codes register their modules
in the same order, so a pairing that fails is a structural difference of the block or the table.
The dense models are built from this project's configs; their heads register their modules in
another order than Apple's, so each of Apple's modules is first named with its counterpart here
(``DEEPLABV3_MODULES``, ``SSDLITE_MODULES``), then paired by order and shape within it.
"""
import pytest
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample

from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import (REPO_ROOT, missing_reference, reference_root,
                        regenerate_apple_input, relative_difference)

CASES = {'mobilevit_xxs': 'mobilevitv1-xxs', 'mobilevitv2_0.5': 'mobilevitv2-0.5'}
STAGES = ['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
TOLERANCE = 1e-4  # relative to each tensor's largest magnitude


def apple_dir():
    root = reference_root().parent / 'apple'
    if not (root / 'fixtures').is_dir():
        missing_reference(f"Apple's MobileViTv1/v2 fixtures not found at {root}; set "
                          'MVIT3_REFERENCE to a folder whose sibling apple/ holds fixtures/')
    return root


def load(name):
    return torch.load(apple_dir() / 'fixtures' / name, map_location='cpu', weights_only=True)


def pair_by_order(theirs, ours):
    """Rename ``theirs`` to the keys of ``ours``: same count, same order, same shape each."""
    assert len(theirs) == len(ours), (len(theirs), len(ours))
    renamed = {}
    for (their_key, value), (our_key, target) in zip(theirs.items(), ours.items()):
        assert value.shape == target.shape, (their_key, our_key, value.shape, target.shape)
        # A name-level sanity check on top of the shapes: a norm pairs with a norm.
        assert their_key.split('.')[-1] == our_key.split('.')[-1], (their_key, our_key)
        renamed[our_key] = value
    return renamed


def build(name):
    arch = CASES[name]
    outputs = len(MobileViTv3(arch=arch, init_cfg=None).all_channels)
    backbone = MobileViTv3(arch=arch, out_indices=range(outputs), init_cfg=None)
    state = load(f'{name}_state_dict.pt')
    head = {k: v for k, v in state.items() if k.startswith('classifier.')}
    body = {k: v for k, v in state.items() if not k.startswith('classifier.')}
    backbone.load_state_dict(pair_by_order(body, backbone.state_dict()), strict=True)
    fc = nn.Linear(backbone.all_channels[-1], 1000)
    fc.load_state_dict(pair_by_order(head, fc.state_dict()), strict=True)
    return backbone.eval(), fc.eval()


@pytest.mark.parametrize('size', ['', '_320x256'])
@pytest.mark.parametrize('name', list(CASES))
def test_outputs_match_apples_classifier(name, size):
    backbone, fc = build(name)
    io = load(f'{name}_io{size}.pt')
    x = regenerate_apple_input(io)
    with torch.no_grad():
        outs = backbone(x)
        logits = fc(outs[-1].mean(dim=(2, 3)))
    ours = dict(zip(STAGES, outs))
    if backbone.conv_1x1_exp is not None:
        ours['conv_1x1_exp'] = outs[6]
    else:  # MobileViTv2's conv_1x1_exp is an Identity: Apple's entry repeats layer_5.
        assert torch.equal(io['conv_1x1_exp'], io['layer_5'])
        ours['conv_1x1_exp'] = outs[5]
    ours['logits'] = logits
    compared = [k for k in ours if k in io]
    # The 320x256 files keep layer_3 onwards (the odd-size path of the blocks).
    assert compared == (STAGES + ['conv_1x1_exp', 'logits'])[(3 if size else 0):]
    differences = {}
    for key in compared:
        assert ours[key].shape == io[key].shape, key
        differences[key] = relative_difference(ours[key], io[key])
    print(name, size or '_256x256', {k: f'{v:.2e}' for k, v in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


def test_pairing_refuses_a_structural_difference():
    # The pairing is the proof of structure: a MobileViTv3 block in place of MobileViTv1's
    # (depthwise local conv, 1x1 fusion) cannot take Apple's MobileViTv1 tensors.
    state = load('mobilevit_xxs_state_dict.pt')
    body = {k: v for k, v in state.items() if not k.startswith('classifier.')}
    changed = MobileViTv3(arch='mobilevitv1-xxs', block_cfg=dict(depthwise_local=True),
                          init_cfg=None)
    with pytest.raises(AssertionError, match='local_rep'):
        pair_by_order(body, changed.state_dict())


@pytest.mark.parametrize('size', ['', '_nonsquare'])
def test_deeplabv3_encoder_matches_apples_at_output_stride_16(size):
    # Apple's DeepLabv3-MobileViTv1-XXS (VOC) encoder: layer_5 keeps stride 16 and, in the
    # MobileViTv1 code, no convolution is dilated.
    state = load('deeplabv3_mobilevit_xxs_voc_state_dict.pt')
    encoder = {k: v for k, v in state.items() if k.startswith('encoder.')}
    backbone = MobileViTv3(arch='mobilevitv1-xxs', output_stride=16, with_exp_conv=False,
                           init_cfg=None)
    backbone.load_state_dict(pair_by_order(encoder, backbone.state_dict()), strict=True)
    dilated = [m for m in backbone.modules() if isinstance(m, nn.Conv2d) and m.dilation != (1, 1)]
    assert dilated == []
    io = load(f'deeplabv3_mobilevit_xxs_voc_io{size}.pt')
    with torch.no_grad():
        out = backbone.eval()(regenerate_apple_input(io))[0]
    assert out.shape == io['backbone_l5'].shape
    difference = relative_difference(out, io['backbone_l5'])
    print('deeplabv3_mobilevit_xxs_voc', size or '_256x256', f'layer_5 {difference:.2e}')
    assert difference <= TOLERANCE


# Apple's DeepLabv3 modules (ml-cvnets d38a116 cvnets/models/segmentation/heads/deeplabv3.py,
# cvnets/modules/aspp_block.py) and their counterparts here.
DEEPLABV3_MODULES = [
    ('encoder.', 'backbone.'),
    *[(f'seg_head.aspp.aspp_layer.convs.{i}.', f'decode_head.aspp_modules.{i}.') for i in range(4)],
    ('seg_head.aspp.aspp_layer.convs.4.', 'decode_head.image_pool.'),
    ('seg_head.aspp.aspp_layer.project.', 'decode_head.bottleneck.'),
    ('seg_head.classifier.', 'decode_head.conv_seg.'),
]
# Apple's SSDLite modules (ml-cvnets 84d992f cvnets/models/detection/ssd.py) and ours.
SSDLITE_MODULES = [
    ('encoder.', 'backbone.'),
    *[(f'extra_layers.os_{s}.', f'neck.extra_layers.{i}.') for i, s in enumerate((64, 128, 256))],
    ('extra_layers.os_-1.', 'neck.global_layer.'),
    *[pair for i in range(6) for pair in (
        (f'ssd_heads.{i}.proj_layer.', f'bbox_head.projections.{i}.'),
        (f'ssd_heads.{i}.loc_cls_layer.', f'bbox_head.predictors.{i}.'))],
]
DEEPLABV3_CONFIG = 'configs/mobilevitv1/deeplabv3_mobilevitv1-xxs_4xb32-50e_voc12aug-512x512.py'
SSDLITE_CONFIG = 'configs/mobilevitv2/ssdlite_mobilevitv2-0.5_4xb32-200e_coco-320x320.py'
SSD_MAPS = ['fm_os16', 'fm_os32', 'fm_os64', 'fm_os128', 'fm_os256', 'fm_os-1']


def pair_by_modules(theirs, ours, modules):
    """``theirs`` renamed to the keys of ``ours``, module by module (``(their prefix, our
    prefix)`` pairs), by order and shape within each; every key of both is used exactly once."""
    renamed, used = {}, set()
    for their_prefix, our_prefix in modules:
        their_part = {k: v for k, v in theirs.items() if k.startswith(their_prefix)}
        our_part = {k: v for k, v in ours.items() if k.startswith(our_prefix)}
        # A module both leave out (an SSD map that needs no projection) pairs nothing.
        assert bool(their_part) == bool(our_part), (their_prefix, our_prefix)
        renamed.update(pair_by_order(their_part, our_part))
        used.update(their_part)
    assert used == set(theirs), sorted(set(theirs) - used)
    assert set(renamed) == set(ours), sorted(set(ours) - set(renamed))
    return renamed


def build_dense(config, fixture, modules):
    model, _ = build_model_from_config(REPO_ROOT / config)
    state = load(fixture)
    model.load_state_dict(pair_by_modules(state, model.state_dict(), modules), strict=True)
    return model.eval()


def compare(ours, io, keys, label):
    differences = {}
    for key in keys:
        assert ours[key].shape == io[key].shape, (key, ours[key].shape, io[key].shape)
        differences[key] = relative_difference(ours[key], io[key])
    print(label, {k: f'{v:.2e}' for k, v in differences.items()})
    assert max(differences.values()) <= TOLERANCE, differences


@pytest.mark.parametrize('size', ['', '_nonsquare'])
def test_deeplabv3_mobilevitv1_matches_apples(size):
    # The project's DeepLabv3-MobileViTv1-XXS config with Apple's weights: layer_5, the ASPP
    # output (input of the classifier) and the logits at the input size (Apple up-samples the
    # 1/16 logits x16, bilinear, align_corners=False; 160x224 is not square).
    model = build_dense(DEEPLABV3_CONFIG, 'deeplabv3_mobilevit_xxs_voc_state_dict.pt',
                        DEEPLABV3_MODULES)
    io = load(f'deeplabv3_mobilevit_xxs_voc_io{size}.pt')
    x = regenerate_apple_input(io)
    with torch.no_grad():
        feats = model.extract_feat(x)
        ours = dict(backbone_l5=feats[0], aspp_out=model.decode_head._forward_feature(feats),
                    logits=model.predict(x)[0].seg_logits.data[None])
    compare(ours, io, ['backbone_l5', 'aspp_out', 'logits'], 'deeplabv3 ' + (size or '_256x256'))


def ssd_raw_outputs(cls_scores, bbox_preds, num_classes=81):
    """Per anchor, in Apple's order (map, location row-major, anchor): class logits with the
    background first, as Apple's, and box regressions."""
    scores = torch.cat([s.permute(0, 2, 3, 1).reshape(1, -1, num_classes) for s in cls_scores], 1)
    boxes = torch.cat([b.permute(0, 2, 3, 1).reshape(1, -1, 4) for b in bbox_preds], 1)
    return torch.cat([scores[..., -1:], scores[..., :-1]], dim=-1), boxes


def matched_detections(ours, theirs, box_tol, score_tol):
    """How many of Apple's detections (boxes, scores, labels) pair one-to-one with one of ours of
    the same label, score within ``score_tol``, each coordinate within ``box_tol``."""
    free = torch.ones(len(ours[1]), dtype=torch.bool)
    matched = 0
    for box, score, label in zip(*theirs):
        close = ((ours[0] - box).abs().amax(-1) <= box_tol) & \
            ((ours[1] - score).abs() <= score_tol) & (ours[2] == label) & free
        hits = close.nonzero()
        if len(hits):
            free[hits[0, 0]] = False
            matched += 1
    return matched


@pytest.mark.parametrize('size', ['', '_256x320'])
def test_ssdlite_mobilevitv2_matches_apples(size):
    # The project's SSDLite-MobileViTv2-0.5 config with Apple's weights: the six maps the heads
    # read, raw box regressions and class logits of every anchor, the anchors, and the
    # detections of the v2 post-processing (the config's test_cfg).
    model = build_dense(SSDLITE_CONFIG, 'ssdlite_mobilevitv2_0.5_coco_state_dict.pt',
                        SSDLITE_MODULES)
    io = load(f'ssdlite_mobilevitv2_0.5_coco_io{size}.pt')
    x = regenerate_apple_input(io)
    height, width = x.shape[2:]
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width),
                batch_input_shape=(height, width), scale_factor=(1.0, 1.0))
    with torch.no_grad():
        feats = model.extract_feat(x)
        cls_scores, bbox_preds = model.bbox_head(feats)
        pred = model.predict(x, [DetDataSample(metainfo=meta)], rescale=False)[0].pred_instances
    ours = dict(zip(SSD_MAPS, feats))
    ours['scores_raw'], ours['boxes_raw'] = ssd_raw_outputs(cls_scores, bbox_preds)
    generator = model.bbox_head.prior_generator
    ours['anchors'] = torch.cat([generator.single_level_normalized_priors(f.shape[-2:], i)
                                 for i, f in enumerate(feats)])[None]
    assert ours['anchors'].shape[1] == (3232 if not size else 2572)
    compare(ours, io, SSD_MAPS + ['boxes_raw', 'scores_raw', 'anchors'],
            'ssdlite ' + (size or '_320x320'))
    # Detections: Apple's boxes are fractions of the input, labels count the background as 0.
    detections = (pred.bboxes / torch.tensor([width, height, width, height]), pred.scores,
                  pred.labels + 1)
    theirs = (io['det_boxes'], io['det_scores'], io['det_labels'])
    assert len(detections[1]) == len(theirs[1]) == 200
    box_tol = TOLERANCE * theirs[0].abs().max().item()
    assert matched_detections(detections, theirs, box_tol, TOLERANCE) == 200
    # Sorted by score as Apple's (torchvision's batched_nms order).
    assert torch.all(detections[1][:-1] >= detections[1][1:])
    print('ssdlite detections', size or '_320x320', 'max box difference',
          f"{(detections[0] - theirs[0]).abs().max():.2e}",
          f"score {(detections[1] - theirs[1]).abs().max():.2e}")
