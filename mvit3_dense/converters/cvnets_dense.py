"""Key mapping from the authors' DeepLabv3 segmentation models to this project's mmseg models.

The encoder is converted by the classifier rules (:mod:`.cvnets`); the head's units map onto
:class:`~mvit3_dense.models.seg.MobileViTv3ASPPHead` (ASPP branches in the authors' order, 1x1
projection, classifier) and mmseg's FCN auxiliary head.
"""
import glob
import os
import re
from pathlib import Path

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
DATASETS = {21: 'voc12aug', 150: 'ade20k'}
CONFIG_ROOT = Path(__file__).resolve().parents[2] / 'configs'


def _rename(key, rules):
    for pattern, repl in rules:
        new, count = re.subn(pattern, repl, key)
        if count:
            return new
    return None


def convert_segmentor(state_dict):
    """The authors' DeepLabv3 ``state_dict`` as mmseg ``EncoderDecoder`` tensors.

    Returns ``(tensors, info)`` with ``info`` = dict(arch, family, num_classes, dataset,
    with_aux).
    """
    encoder = {k[len('encoder.'):]: v for k, v in state_dict.items() if k.startswith('encoder.')}
    head = {k: v for k, v in state_dict.items() if k.startswith('seg_head.')}
    other = sorted(k for k in state_dict if not k.startswith(('encoder.', 'seg_head.')))
    if not encoder or not head or other:
        found = other[:2] or list(state_dict)[:2]
        raise ConversionError("not a DeepLabv3 checkpoint of the authors' code: expected "
                              f"'encoder.*' and 'seg_head.*' tensors only, found e.g. {found}")
    backbone = convert_classifier(encoder)
    if backbone.head:
        raise ConversionError('the encoder still holds an ImageNet classifier: this is not a '
                              'segmentation checkpoint')
    tensors = {f'backbone.{k}': v for k, v in backbone.backbone.items()}
    unmapped = []
    for key, value in head.items():
        new = _rename(key, _SEG_HEAD_RULES)
        if new is None:
            unmapped.append(key)
        else:
            tensors[new] = value
    if unmapped:
        raise ConversionError(f'head tensors with no counterpart in MobileViTv3ASPPHead: '
                              f'{unmapped[:3]}')
    num_classes = tensors['decode_head.conv_seg.weight'].shape[0]
    info = dict(arch=backbone.arch, family=backbone.family, num_classes=num_classes,
                dataset=DATASETS.get(num_classes),
                with_aux=any(k.startswith('auxiliary_head.') for k in tensors))
    return tensors, info


def find_config(info, root=CONFIG_ROOT / 'deeplabv3'):
    """This project's config for a detected variant and dataset (by class count)."""
    if info['dataset'] is None:
        raise ConversionError(f"{info['num_classes']} classes match no dataset of this project's "
                              'configs (VOC: 21, ADE20K: 150): pass --config')
    pattern = os.path.join(root, f"deeplabv3_mobilevitv3-{info['arch']}_*_{info['dataset']}-*.py")
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
