"""One entry point for every checkpoint conversion: :func:`convert` (and, writing a file,
:func:`convert_checkpoint_file`).

``SOURCES`` lists the checkpoint formats and, for each, the key-mapping function of every target
kind it supports. A conversion validates the request, maps the keys (the source's function),
detects or verifies the variant (:mod:`.variant`), and assembles the kind's state dict; for a
segmentor or detector it also picks or verifies this project's config and checks the tensors
against the model that config builds.
"""
import glob
import os
import sys
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from ..models.backbones.mobilevitv3 import V1_PREFIX, V2_PREFIX
from ..models.backbones.pretrained import compare_state_dicts
from ..utils import config_paths
from ..utils.checkpoint import atomic_save, extract_state_dict, load_checkpoint_file
from ..utils.model_builder import build_model_from_config
from . import cvnets, cvnets_dense, hf, timm
from .base import DENSE_KINDS, KINDS, Conversion, ConversionError, Source, SourceTensors, StateDict
from .variant import check_arch, display_name, resolve_arch, same_arch

__all__ = ['SOURCES', 'convert', 'convert_checkpoint_file', 'find_config']

PathLike = Union[str, os.PathLike]

# Every source format, by the name ``convert(..., source=NAME)`` takes.
# The network (MobileViTv1, MobileViTv2 or MobileViTv3) is detected from the keys and shapes.
SOURCES: Dict[str, Source] = {
    'cvnets': Source(
        name='cvnets',
        description="ml-cvnets (Apple's MobileViTv1 / MobileViTv2 and the MobileViTv3 authors' "
        'code; classifiers, DeepLabv3, SSDLite)',
        mappers=dict(backbone=cvnets.map_classifier, classifier=cvnets.map_classifier,
                     segmentor=cvnets_dense.map_segmentor, detector=cvnets_dense.map_detector)),
    'timm': Source(
        name='timm',
        description='timm (mobilevit_xxs/xs/s, mobilevitv2_050 ... mobilevitv2_200 classifiers)',
        mappers=dict(backbone=timm.map_classifier, classifier=timm.map_classifier)),
    'hf': Source(
        name='hf',
        description='Hugging Face transformers (MobileViT / MobileViTV2 models and image '
        'classifiers)',
        mappers=dict(backbone=hf.map_classifier, classifier=hf.map_classifier)),
}

# Dense kinds: model name, config folder, and the dataset of this project's configs by class count
# (background included).
_DENSE = {
    'segmentor': dict(model='DeepLabv3', folder='deeplabv3',
                      datasets={21: 'voc12aug', 150: 'ade20k'}),
    'detector': dict(model='SSDLite', folder='ssdlite', datasets={81: 'coco'}),
}


def _check_request(kind: str, source: str, config: Optional[PathLike]) -> Source:
    if kind not in KINDS:
        raise ConversionError(f'unknown kind {kind!r}: choose one of {", ".join(KINDS)}')
    if source not in SOURCES:
        raise ConversionError(f'unknown source format {source!r}: choose one of '
                              f'{", ".join(SOURCES)}')
    fmt = SOURCES[source]
    if kind not in fmt.mappers:
        raise ConversionError(f'{fmt.description} has no {kind} checkpoints: choose a kind of '
                              f'{", ".join(fmt.mappers)}')
    if config is not None and kind not in DENSE_KINDS:
        raise ConversionError(f'a config applies to the kinds {", ".join(DENSE_KINDS)} only, '
                              f'not to {kind!r}')
    return fmt


def _read(src: Union[PathLike, Mapping[str, torch.Tensor]]) -> Tuple[StateDict, str]:
    if isinstance(src, Mapping):
        return extract_state_dict(dict(src), source='the given state_dict'), 'state_dict'
    return extract_state_dict(load_checkpoint_file(src), source=str(src)), str(src)


def _num_classes(kind: str, head: StateDict) -> int:
    if kind == 'segmentor':
        classifier = head.get('decode_head.conv_seg.weight')
        if classifier is None:
            raise ConversionError('DeepLabv3 checkpoint without its classifier (1x1 conv)')
        return classifier.shape[0]
    # The last map's predictor: 4 anchors x (4 box values + classes incl. background).
    last = head.get('bbox_head.predictors.5.weight')
    if last is None or last.shape[0] % 4:
        raise ConversionError('SSDLite checkpoint without the 4-anchor predictor of the last map')
    return last.shape[0] // 4 - 4


def find_config(kind: str, arch: str, num_classes: int) -> str:
    """This project's config of ``kind`` for variant ``arch`` and the dataset with
    ``num_classes`` classes, from :func:`~mvit3_dense.utils.config_paths.config_root`.

    MobileViTv3 configs lie in the model's folder (``deeplabv3/deeplabv3_mobilevitv3-xxs_*``);
    MobileViTv1 / MobileViTv2 ones in the network's (``mobilevitv1/deeplabv3_mobilevitv1-xxs_*``).
    """
    dense = _DENSE[kind]
    dataset = dense['datasets'].get(num_classes)
    if dataset is None:
        known = ', '.join(f'{name}: {count}' for count, name in dense['datasets'].items())
        raise ConversionError(f"{num_classes} classes match no dataset of this project's configs "
                              f'({known}, background included): pass --config')
    name = dense['folder']
    network = next((p[:-1] for p in (V1_PREFIX, V2_PREFIX) if arch.startswith(p)), None)
    folder, backbone = (network, arch) if network else (name, f'mobilevitv3-{arch}')
    pattern = os.path.join(config_paths.config_root(), folder,
                           f'{name}_{backbone}_*_{dataset}-*.py')
    matches = sorted(glob.glob(pattern))
    if len(matches) != 1:
        raise ConversionError(f'expected one config matching {pattern}, found {len(matches)}: '
                              'pass --config')
    return matches[0]


def _config_arch(cfg: Config, config: str) -> str:
    try:
        return str(cfg.model.backbone.arch)
    except AttributeError:
        raise ConversionError(f'{config} has no model.backbone.arch: not a config of this '
                              'project\'s MobileViTv3 backbone') from None


def _dense(kind: str, mapped: SourceTensors, arch: str, config: Optional[PathLike],
           origin: str) -> Tuple[StateDict, Dict[str, Any]]:
    """The whole model's tensors for ``kind``, checked against the model ``config`` builds."""
    dense = _DENSE[kind]
    num_classes = _num_classes(kind, mapped.head)
    config = str(config) if config is not None else find_config(kind, arch, num_classes)
    if not os.path.isfile(config):
        raise ConversionError(f'config {config} not found')
    cfg = Config.fromfile(config)
    if not same_arch(_config_arch(cfg, config), arch):
        raise ConversionError(f"checkpoint holds {dense['model']} {display_name(arch)} but "
                              f'{config} builds another variant '
                              f'({display_name(cfg.model.backbone.arch)})')
    model, _ = build_model_from_config(cfg)
    expected = model.state_dict()
    tensors = {**{f'backbone.{k}': v for k, v in mapped.backbone.items()}, **mapped.head}
    # The auxiliary head only serves training: without it in the source, the model's own initial
    # weights are kept for it.
    initialised = ()
    if not any(k.startswith('auxiliary_head.') for k in tensors):
        initialised = tuple(k for k in expected if k.startswith('auxiliary_head.'))
        tensors.update({k: expected[k].clone() for k in initialised})
    diff = compare_state_dicts(expected, tensors)
    if not diff.ok:
        raise ConversionError(f'{origin} does not fit the model of {config}: {diff.describe()}')
    meta = dict(config=config, num_classes=num_classes,
                dataset=dense['datasets'].get(num_classes),
                with_aux=any(k.startswith('auxiliary_head.') for k in mapped.head),
                initialised_not_converted=list(initialised))
    dataset_meta = getattr(model, 'dataset_meta', None)
    if dataset_meta:
        meta['dataset_meta'] = dataset_meta
    return tensors, meta


def convert(src: Union[PathLike, Mapping[str, torch.Tensor]], *, kind: str,
            arch: Optional[str] = None, config: Optional[PathLike] = None,
            source: str = 'cvnets') -> Conversion:
    """Convert a checkpoint (a file, or a state dict) of format ``source`` into ``kind``.

    Args:
        src: checkpoint file, or its state dict (possibly under ``'state_dict'``).
        kind: ``'backbone'`` (:class:`MobileViTv3` keys, for ``init_cfg`` Pretrained; a classifier
            is dropped), ``'classifier'`` (mmpretrain ``ImageClassifier``), ``'segmentor'`` (mmseg
            DeepLabv3) or ``'detector'`` (mmdet SSDLite).
        arch: expected variant; detected from the shapes when omitted. A checkpoint of another
            variant is refused; for dense kinds it also picks the config.
        config: segmentor / detector: this project's config the tensors are for; found from the
            variant and class count under ``config_root()`` when omitted, and verified to build
            the checkpoint's variant when given.
        source: the checkpoint format, a key of :data:`SOURCES`.

    Returns:
        Conversion: the same result type for every kind; its ``state_dict`` holds the source's
        tensors (not copies).
    """
    fmt = _check_request(kind, source, config)
    if arch is not None:
        arch = check_arch(arch)
    state_dict, origin = _read(src)
    mapped = fmt.mappers[kind](state_dict)
    arch, with_exp_conv = resolve_arch(mapped, arch)
    meta: Dict[str, Any] = dict(kind=kind, arch=arch, family=mapped.family,
                                network=mapped.network, source=origin, source_format=fmt.name,
                                with_exp_conv=with_exp_conv)
    dropped: Tuple[str, ...] = ()
    initialised: Tuple[str, ...] = ()
    if kind in DENSE_KINDS:
        tensors, dense_meta = _dense(kind, mapped, arch, config, origin)
        meta.update(dense_meta, task=kind)
        initialised = tuple(dense_meta['initialised_not_converted'])
        num_classes = dense_meta['num_classes']
    else:
        if kind == 'classifier' and not mapped.head:
            raise ConversionError(f"{origin} has no classifier tensors: convert it with kind "
                                  "'backbone' (--kind backbone)")
        if kind == 'classifier':
            tensors = {**{f'backbone.{k}': v for k, v in mapped.backbone.items()}, **mapped.head}
        else:
            tensors, dropped = dict(mapped.backbone), tuple(mapped.head)
        num_classes = mapped.head['head.fc.weight'].shape[0] if mapped.head else 0
        meta['num_classes'] = num_classes
    return Conversion(kind=kind, arch=arch, family=mapped.family, source_format=fmt.name,
                      state_dict=tensors, num_classes=num_classes, with_exp_conv=with_exp_conv,
                      config=meta.get('config'), renamed=len(tensors) - len(initialised),
                      dropped=dropped, initialised=initialised, meta=meta,
                      network=mapped.network)


def _write(tensors: StateDict, meta: Dict[str, Any], dst: PathLike, progress: bool) -> None:
    out = {}
    bar = ProgressBar(len(tensors)) if progress else None
    for key, value in tensors.items():
        out[key] = value.detach().clone()
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    atomic_save(dict(state_dict=out, meta=meta), dst)


def convert_checkpoint_file(src: PathLike, dst: PathLike, *, kind: str = 'backbone',
                            arch: Optional[str] = None, config: Optional[PathLike] = None,
                            source: str = 'cvnets', progress: bool = True) -> Conversion:
    """:func:`convert` the file ``src`` and write the result to ``dst`` atomically (nothing is
    written when the conversion is refused). Returns the :class:`Conversion`."""
    result = convert(src, kind=kind, arch=arch, config=config, source=source)
    _write(result.state_dict, result.meta, dst, progress)
    return result
