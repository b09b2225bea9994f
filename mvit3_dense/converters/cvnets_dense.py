"""Key mapping of the authors' DeepLabv3 and SSDLite models into this project's mmseg/mmdet ones.

The encoder is mapped by the classifier rules (:mod:`.cvnets`). DeepLabv3's head maps onto
:class:`~mvit3_dense.models.seg.MobileViTv3ASPPHead` (ASPP branches in the authors' order, 1x1
projection, classifier) and mmseg's FCN auxiliary head; SSDLite's extra layers onto
:class:`~mvit3_dense.models.det.MobileViTv3SSDNeck` and its predictors onto
:class:`~mvit3_dense.models.det.MobileViTv3SSDHead`, which keeps the authors' channel layout (the
head reorders classes at run time), so every tensor is copied as it is.
"""
from typing import Sequence, Tuple

from .base import ConversionError, Rule, SourceTensors, StateDict, rename_first
from .cvnets import map_classifier

_SEG_HEAD_RULES = [
    (r'^seg_head\.aspp\.aspp_layer\.convs\.([0-3])\.block\.conv\.',
     r'decode_head.aspp_modules.\1.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.([0-3])\.block\.norm\.',
     r'decode_head.aspp_modules.\1.bn.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.4\.aspp_pool\.conv_1x1\.block\.conv\.',
     'decode_head.image_pool.1.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.convs\.4\.aspp_pool\.conv_1x1\.block\.norm\.',
     'decode_head.image_pool.1.bn.'),
    (r'^seg_head\.aspp\.aspp_layer\.project\.block\.conv\.', 'decode_head.bottleneck.conv.'),
    (r'^seg_head\.aspp\.aspp_layer\.project\.block\.norm\.', 'decode_head.bottleneck.bn.'),
    # v1-based heads hold the classifier after a Dropout2d in a Sequential; v2-based ones do not.
    (r'^seg_head\.classifier\.(classifier\.)?block\.conv\.', 'decode_head.conv_seg.'),
    # The auxiliary head of the v2-based yamls (use_aux_head: true): conv+BN+ReLU, Dropout2d (no
    # tensors), 1x1 classifier.
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


def _split(state_dict: StateDict, head_prefixes: Tuple[str, ...],
           model_name: str) -> Tuple[SourceTensors, StateDict]:
    """The mapped encoder and the head tensors; anything else is refused."""
    encoder = {k[len('encoder.'):]: v for k, v in state_dict.items() if k.startswith('encoder.')}
    head = {k: v for k, v in state_dict.items() if k.startswith(head_prefixes)}
    other = sorted(k for k in state_dict if not k.startswith(('encoder.', ) + head_prefixes))
    if not encoder or not head or other:
        found = other[:2] or list(state_dict)[:2]
        expected = ', '.join(f"'{p}*'" for p in ('encoder.', ) + head_prefixes)
        raise ConversionError(f"not a {model_name} checkpoint of the authors' code: expected "
                              f'{expected} tensors only, found e.g. {found}')
    mapped = map_classifier(encoder)
    if mapped.head:
        raise ConversionError('the encoder still holds an ImageNet classifier: this is not a '
                              f'{model_name} checkpoint')
    return mapped, head


def _map_head(head: StateDict, rules: Sequence[Rule], inner_rules: Sequence[Rule],
              target: str) -> StateDict:
    tensors, unmapped = {}, []
    for key, value in head.items():
        new = rename_first(key, rules, inner_rules)
        if new is None:
            unmapped.append(key)
        else:
            tensors[new] = value
    if unmapped:
        raise ConversionError(f'head tensors with no counterpart in {target}: {unmapped[:3]}')
    return tensors


def map_segmentor(state_dict: StateDict) -> SourceTensors:
    """The authors' DeepLabv3 as backbone tensors and mmseg ``EncoderDecoder`` head tensors."""
    mapped, head = _split(state_dict, ('seg_head.', ), 'DeepLabv3')
    mapped.head = _map_head(head, _SEG_HEAD_RULES, (), 'MobileViTv3ASPPHead')
    return mapped


def map_detector(state_dict: StateDict) -> SourceTensors:
    """The authors' SSDLite as backbone tensors and mmdet neck and head tensors."""
    mapped, head = _split(state_dict, ('extra_layers.', 'ssd_heads.'), 'SSDLite')
    mapped.head = _map_head(head, _DET_RULES, _SEPARABLE_RULES, 'MobileViTv3SSDHead')
    return mapped
