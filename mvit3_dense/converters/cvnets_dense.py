"""Key mapping from the authors' DeepLabv3 and SSDLite models to this project's mmseg/mmdet ones.

The encoder is converted by the classifier rules (:mod:`.cvnets`). DeepLabv3's head maps onto
:class:`~mvit3_dense.models.seg.MobileViTv3ASPPHead` (ASPP branches in the authors' order, 1x1
projection, classifier) and mmseg's FCN auxiliary head; SSDLite's extra layers onto
:class:`~mvit3_dense.models.det.MobileViTv3SSDNeck` and its predictors onto
:class:`~mvit3_dense.models.det.MobileViTv3SSDHead`, which keeps the authors' channel layout.
"""
import glob
import os
import re

from ..utils.config_paths import config_root
from .cvnets import ConversionError, convert_classifier

_SEG_HEAD_RULES = [
    (r'^seg_head\.aspp\.aspp_layer\.convs\.([0-3])\.block\.conv\.', r'decode_head.aspp_modules.\1.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.([0-3])\.block\.norm\.', r'decode_head.aspp_modules.\1.bn.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.4\.aspp_pool\.conv_1x1\.block\.conv\.',
     'decode_head.image_pool.1.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.4\.aspp_pool\.conv_1x1\.block\.norm\.',
     'decode_head.image_pool.1.bn.'),
    (r'^seg_head\.aspp\.aspp_layer\.project\.block\.conv\.', 'decode_head.bottleneck.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.project\.block\.norm\.', 'decode_head.bottleneck.bn.'),
    # v1-based heads hold the classifier after a Dropout2d in a Sequential; v2-based ones do not.
    (r'^seg_head\.classifier\.(classifier\.)?block\.conv\.', 'decode_head.conv_seg.'),
    (r'^seg_head\.aux_head\.0\.block\.conv\.', 'auxiliary_head.convs.0.conv.'),
    (r'^seg_head\.aux_head\.0\.block\.norm\.', 'auxiliary_head.convs.0.bn.'),
    (r'^seg_head\.aux_head\.2\.block\.conv\.', 'auxiliary_head.conv_seg.'),
]
_DET_RULES = [
    (r'^extra_layers\.os_(64|128|256)\.', lambda m: 'neck.extra_layers.{}.'.format(
        {'64': 0, '128': 1, '256': 2}[m.group(1)])),
    (r'^extra_layers\.os_-1\.1\.block\.conv\.', 'neck.global_layer.1.conv.'),
    (r'^ssd_heads\.(\d)\.proj_layer\.block\.conv\.', r'bbox_head.projections.\1.conv.'),
    (r'^ssd_heads\.(\d)\.proj_layer\.block\.norm\.', r'bbox_head.projections.\1.bn.'),
    (r'^ssd_heads\.(\d)\.loc_cls_layer\.block\.conv\.', r'bbox_head.predictors.\1.'),
    (r'^ssd_heads\.(\d)\.loc_cls_layer\.', r'bbox_head.predictors.\1.'),
]
# Inside separable layers (neck extras and predictors), after the prefixes above.
_SEPARABLE_RULES = [
    (r'\.dw_conv\.block\.conv\.', '.depthwise_conv.conv.'),
    (r'\.dw_conv\.block\.norm\.', '.depthwise_conv.bn.'),
    (r'\.pw_conv\.block\.conv\.', '.pointwise_conv.conv.'),
    (r'\.pw_conv\.block\.norm\.', '.pointwise_conv.bn.'),
]
DATASETS = {21: 'voc12aug', 150: 'ade20k'}


def _rename(key, rules, inner_rules=()):
    for pattern, repl in rules:
        new, count = re.subn(pattern, repl, key)
        if count:
            for inner, inner_repl in inner_rules:
                new = re.sub(inner, inner_repl, new)
            return new
    return None


def _split(state_dict, head_prefixes, model_name):
    """Encoder tensors (prefix stripped) and head tensors; anything else is refused."""
    encoder = {k[len('encoder.'):]: v for k, v in state_dict.items() if k.startswith('encoder.')}
    head = {k: v for k, v in state_dict.items() if k.startswith(head_prefixes)}
    other = sorted(k for k in state_dict if not k.startswith(('encoder.', ) + head_prefixes))
    if not encoder or not head or other:
        found = other[:2] or list(state_dict)[:2]
        expected = ', '.join(f"'{p}*'" for p in ('encoder.', ) + head_prefixes)
        raise ConversionError(f"not a {model_name} checkpoint of the authors' code: expected "
                              f'{expected} tensors only, found e.g. {found}')
    backbone = convert_classifier(encoder)
    if backbone.head:
        raise ConversionError('the encoder still holds an ImageNet classifier: this is not a '
                              f'{model_name} checkpoint')
    return backbone, head


def _convert_head(backbone, head, rules, inner_rules, target):
    tensors = {f'backbone.{k}': v for k, v in backbone.backbone.items()}
    unmapped = []
    for key, value in head.items():
        new = _rename(key, rules, inner_rules)
        if new is None:
            unmapped.append(key)
        else:
            tensors[new] = value
    if unmapped:
        raise ConversionError(f'head tensors with no counterpart in {target}: {unmapped[:3]}')
    return tensors


def convert_segmentor(state_dict):
    """The authors' DeepLabv3 ``state_dict`` as mmseg ``EncoderDecoder`` tensors.

    Returns ``(tensors, info)`` with ``info`` = dict(arch, family, num_classes, dataset,
    with_aux, task).
    """
    backbone, head = _split(state_dict, ('seg_head.', ), 'DeepLabv3')
    tensors = _convert_head(backbone, head, _SEG_HEAD_RULES, (), 'MobileViTv3ASPPHead')
    num_classes = tensors['decode_head.conv_seg.weight'].shape[0]
    info = dict(arch=backbone.arch, family=backbone.family, num_classes=num_classes,
                dataset=DATASETS.get(num_classes),
                with_aux=any(k.startswith('auxiliary_head.') for k in tensors), task='segmentor')
    return tensors, info


def convert_detector(state_dict):
    """The authors' SSDLite ``state_dict`` as mmdet ``SingleStageDetector`` tensors.

    The predictors keep the authors' channel layout (the head reorders classes at run time), so
    every tensor is copied as it is. Returns ``(tensors, info)`` like :func:`convert_segmentor`;
    ``num_classes`` counts the background.
    """
    backbone, head = _split(state_dict, ('extra_layers.', 'ssd_heads.'), 'SSDLite')
    tensors = _convert_head(backbone, head, _DET_RULES, _SEPARABLE_RULES, 'MobileViTv3SSDHead')
    last = tensors.get('bbox_head.predictors.5.weight')
    if last is None or last.shape[0] % 4:
        raise ConversionError('SSDLite checkpoint without the 4-anchor predictor of the last map')
    num_classes = last.shape[0] // 4 - 4
    info = dict(arch=backbone.arch, family=backbone.family, num_classes=num_classes,
                dataset='coco' if num_classes == 81 else None, with_aux=False, task='detector')
    return tensors, info


def find_config(info, root=None):
    """This project's config for a detected variant and dataset (by class count)."""
    if info['dataset'] is None:
        known = 'VOC: 21, ADE20K: 150' if info['task'] == 'segmentor' else 'COCO: 81'
        raise ConversionError(f"{info['num_classes']} classes match no dataset of this project's "
                              f'configs ({known}, background included): pass --config')
    name = 'deeplabv3' if info['task'] == 'segmentor' else 'ssdlite'
    pattern = os.path.join(root or config_root(), name,
                           f"{name}_mobilevitv3-{info['arch']}_*_{info['dataset']}-*.py")
    matches = sorted(glob.glob(pattern))
    if len(matches) != 1:
        raise ConversionError(f'expected one config matching {pattern}, found {len(matches)}: '
                              'pass --config')
    return matches[0]


def match_model(tensors, model, source='checkpoint'):
    """Check converted tensors against ``model.state_dict()``; fill an absent auxiliary head.

    Every target tensor must be filled with the right shape and every source tensor used. The
    auxiliary head only exists for training: when the source has none, the model's own initial
    weights are kept for it. Returns the names of such kept tensors.
    """
    expected = model.state_dict()
    kept = []
    if not any(k.startswith('auxiliary_head.') for k in tensors):
        for key in expected:
            if key.startswith('auxiliary_head.'):
                tensors[key] = expected[key].clone()
                kept.append(key)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = sorted(k for k in set(expected) & set(tensors)
                   if tuple(expected[k].shape) != tuple(tensors[k].shape))
    problems = []
    if missing:
        problems.append(f'{len(missing)} tensors of the model are not in the {source} '
                        f'(e.g. {missing[0]})')
    if unexpected:
        problems.append(f'{len(unexpected)} tensors of the {source} have no place in the model '
                        f'(e.g. {unexpected[0]})')
    if wrong:
        k = wrong[0]
        problems.append(f'{len(wrong)} shape mismatches (e.g. {k}: model '
                        f'{tuple(expected[k].shape)}, {source} {tuple(tensors[k].shape)})')
    if problems:
        raise ConversionError('; '.join(problems))
    return kept
