"""Types shared by every checkpoint converter: target kinds, a source's mapped tensors, the result.

A *source* is a checkpoint format (ml-cvnets, the code of MobileViTv1/v2 and of the MobileViTv3
authors; timm; Hugging Face transformers). For each target
kind it supports, it has one key-mapping function ``state_dict -> SourceTensors`` that renames the
tensors into this project's names without deciding the variant; :mod:`.api` then detects the
variant, assembles the kind's state dict and returns a :class:`Conversion`.
"""
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

import torch

# What a conversion can produce: MobileViTv3 backbone weights (for ``init_cfg`` Pretrained), an
# mmpretrain ImageClassifier, an mmseg DeepLabv3 (EncoderDecoder) or an mmdet SSDLite.
KINDS = ('backbone', 'classifier', 'segmentor', 'detector')
DENSE_KINDS = ('segmentor', 'detector')
# The networks :class:`~mvit3_dense.models.MobileViTv3` builds, each a source can hold.
NETWORKS = ('mobilevitv1', 'mobilevitv2', 'mobilevitv3')

StateDict = Dict[str, torch.Tensor]
Rule = Tuple[str, Union[str, Callable[['re.Match'], str]]]


class ConversionError(ValueError):
    """The source is not a checkpoint of the requested kind, variant or format."""


@dataclass
class SourceTensors:
    """A source checkpoint renamed into this project's names, before its variant is known.

    Args:
        family: ``'v1'`` or ``'v2'``, the lineage of the block layout (multi-head attention of
            MobileViTv1, separable attention of MobileViTv2).
        backbone: tensors under :class:`~mvit3_dense.models.MobileViTv3` ``state_dict`` keys.
        head: the other tensors under the target model's keys (``head.fc.*`` of a classifier,
            ``decode_head.*`` / ``auxiliary_head.*`` of a segmentor, ``neck.*`` / ``bbox_head.*``
            of a detector); empty when the source has none.
        archs: the variants to try when detecting the arch from tensor shapes; ``None`` tries
            the network's known variants.
        network: one of :data:`NETWORKS`: MobileViTv1 and MobileViTv2 are the ``family`` 'v1'
            and 'v2' networks themselves, MobileViTv3 changes their block.
    """
    family: str
    backbone: StateDict
    head: StateDict = field(default_factory=dict)
    archs: Optional[Sequence[str]] = None
    network: str = 'mobilevitv3'


@dataclass(frozen=True)
class Source:
    """A checkpoint format: one key-mapping function per target kind it can produce."""
    name: str
    description: str
    mappers: Mapping[str, Callable[[StateDict], SourceTensors]]


@dataclass
class Conversion:
    """The result of converting one checkpoint, the same for every kind.

    Attributes:
        kind: one of :data:`KINDS`.
        arch: the backbone's ``arch`` (MobileViTv3 ``'xxs'``, ``'s-l2'``, ``'0.75'``, ...;
            ``'mobilevitv1-xxs'``, ``'mobilevitv2-0.5'``, ... for MobileViTv1 / MobileViTv2).
        family: ``'v1'`` or ``'v2'``.
        source_format: the name of the source format (a key of ``SOURCES``).
        state_dict: the converted tensors, keyed as the target model's ``state_dict`` (the
            source's tensors themselves, not copies).
        num_classes: rows of the classifier (segmentor: classes, detector: classes + 1 for the
            background, classifier: ImageNet classes); 0 when the source has no head.
        with_exp_conv: whether the backbone tensors include the 1x1 expansion ``conv_1x1_exp``.
        config: the config the tensors fit (segmentor and detector only).
        renamed: number of source tensors carried into ``state_dict`` under this project's names.
        dropped: converted tensors not written for this kind (e.g. the classifier of a
            ``backbone`` conversion), in this project's names.
        initialised: target tensors absent from the source, taken from the model's own
            initialisation (the training-only auxiliary head of a segmentor).
        meta: what a written checkpoint stores under ``meta``.
        network: one of :data:`NETWORKS`.
    """
    kind: str
    arch: str
    family: str
    source_format: str
    state_dict: StateDict = field(repr=False)
    num_classes: int = 0
    with_exp_conv: bool = False
    config: Optional[str] = None
    renamed: int = 0
    dropped: Tuple[str, ...] = ()
    initialised: Tuple[str, ...] = ()
    meta: Dict[str, Any] = field(default_factory=dict, repr=False)
    network: str = 'mobilevitv3'


def rename_keys(state_dict: Mapping[str, Any], rules: Sequence[Rule]) -> Dict[str, Any]:
    """Every key rewritten by all ``rules`` (``(pattern, replacement)``) in order."""
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


def rename_first(key: str, rules: Sequence[Rule],
                 inner_rules: Sequence[Rule] = ()) -> Optional[str]:
    """``key`` rewritten by the first rule that matches (then by all ``inner_rules``); ``None``
    when no rule matches."""
    for pattern, replacement in rules:
        new, count = re.subn(pattern, replacement, key)
        if count:
            for inner, inner_replacement in inner_rules:
                new = re.sub(inner, inner_replacement, new)
            return new
    return None


def place_final_norms(tensors: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """Each MobileViT block's final attention norm ``layerN.M.<name>.*`` moved to
    ``layerN.M.global_rep.<L>.*``, ``L`` being the block's number of attention layers (ours
    keeps the layers and that norm in one ``global_rep`` sequence)."""
    placed = {}
    for key, value in tensors.items():
        match = re.match(rf'^(layer\d\.\d+)\.{re.escape(name)}\.(\w+)$', key)
        if match:
            block = match.group(1)
            layers = {k.split('.')[3] for k in tensors if k.startswith(f'{block}.global_rep.')}
            key = f'{block}.global_rep.{len(layers)}.{match.group(2)}'
        placed[key] = value
    return placed


def split_classifier(renamed: Mapping[str, Any], origin: str) -> Tuple[Dict[str, Any],
                                                                       Dict[str, Any]]:
    """``(backbone, head)`` of renamed classifier tensors: the head is ``head.fc.{weight,bias}``
    or nothing; other ``head.*`` tensors are refused (``origin`` names the format)."""
    head = {k: v for k, v in renamed.items() if k.startswith('head.')}
    if head and set(head) != {'head.fc.weight', 'head.fc.bias'}:
        raise ConversionError(f'unexpected classifier tensors {sorted(head)}: expected the '
                              f'linear classifier (weight and bias) of {origin}')
    return {k: v for k, v in renamed.items() if not k.startswith('head.')}, head
