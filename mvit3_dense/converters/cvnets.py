"""Key mapping from the authors' (CVNets) MobileViTv3 classifiers to :class:`MobileViTv3`.

The authors' module tree names a conv+norm(+act) unit ``<name>.block.{conv,norm}``; ours is an
mmcv ``ConvModule`` (``<name>.{conv,bn}``). The rules below rename one naming scheme into the
other; every tensor keeps its shape and values.
"""
import re
import sys
from dataclasses import dataclass, field

from mmengine.utils import ProgressBar

from ..models.backbones.mobilevitv3 import V1_ARCHS, V2_WIDTHS, MobileViTv3
from ..utils.checkpoint import atomic_save, extract_state_dict, load_checkpoint_file

# Applied in order to every source key.
_COMMON_RULES = [
    (r'\.block\.conv\.', '.conv.'),
    (r'\.block\.norm\.', '.bn.'),
    (r'^conv_1\.block\.', 'stem.'),
    (r'^conv_1\.', 'stem.'),
    (r'^layer_(\d)\.', r'layer\1.'),
    (r'^conv_1x1_exp\.block\.', 'conv_1x1_exp.'),
    (r'\.block\.exp_1x1\.', '.expand_conv.'),
    (r'\.block\.conv_3x3\.', '.depthwise_conv.'),
    (r'\.block\.red_1x1\.', '.linear_conv.'),
]
_V1_RULES = [
    (r'\.local_rep\.conv_3x3\.', '.local_rep.conv_dw.'),
    (r'\.local_rep\.conv_1x1\.conv\.', '.local_rep.conv_pw.'),
    (r'\.pre_norm_mha\.0\.', '.norm1.'),
    (r'\.pre_norm_mha\.1\.qkv_proj\.', '.attn.qkv.'),
    (r'\.pre_norm_mha\.1\.out_proj\.', '.attn.proj.'),
    (r'\.pre_norm_ffn\.0\.', '.norm2.'),
    (r'\.pre_norm_ffn\.1\.', '.ffn.fc1.'),
    (r'\.pre_norm_ffn\.4\.', '.ffn.fc2.'),
    (r'^classifier\.fc\.', 'head.fc.'),
]
_V2_RULES = [
    (r'\.local_rep\.0\.', '.local_rep.conv_dw.'),
    (r'\.local_rep\.1\.conv\.', '.local_rep.conv_pw.'),
    (r'\.pre_norm_attn\.0\.', '.norm1.'),
    (r'\.pre_norm_attn\.1\.qkv_proj\.conv\.', '.attn.qkv.'),
    (r'\.pre_norm_attn\.1\.out_proj\.conv\.', '.attn.proj.'),
    (r'\.pre_norm_ffn\.0\.', '.norm2.'),
    (r'\.pre_norm_ffn\.1\.conv\.', '.ffn.fc1.'),
    (r'\.pre_norm_ffn\.3\.conv\.', '.ffn.fc2.'),
    # The v2-based block has no separate projection: the authors' conv_proj is the fusion.
    (r'\.conv_proj\.', '.fusion.'),
    (r'^classifier\.1\.', 'head.fc.'),
]


class ConversionError(ValueError):
    """The source does not match the requested MobileViTv3 variant, or is no such checkpoint."""


@dataclass
class Conversion:
    arch: str
    family: str
    with_exp_conv: bool
    backbone: dict = field(repr=False)
    head: dict = field(repr=False)

    @property
    def num_classes(self):
        return self.head['head.fc.weight'].shape[0] if self.head else 0


def detect_family(state_dict):
    if not any(k.startswith('conv_1.') for k in state_dict) or not any(
            k.startswith('layer_5.') for k in state_dict):
        sample = ', '.join(list(state_dict)[:3])
        raise ConversionError(
            "not a MobileViTv3 checkpoint of the authors' code: expected keys such as "
            f"'conv_1.block.conv.weight' and 'layer_5.*', found e.g. {sample}")
    if any('.pre_norm_attn.' in k for k in state_dict):
        return 'v2'
    if any('.pre_norm_mha.' in k for k in state_dict):
        return 'v1'
    raise ConversionError('checkpoint has neither multi-head (v1-based) nor separable (v2-based) '
                          'attention layers: it is not a MobileViTv3 checkpoint')


def rename_keys(state_dict, family):
    rules = _COMMON_RULES + (_V1_RULES if family == 'v1' else _V2_RULES)
    renamed = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in rules:
            new = re.sub(pattern, repl, new)
        renamed[new] = value
    return renamed


def _candidate_archs(family, renamed):
    if family == 'v1':
        return list(V1_ARCHS)
    candidates = list(V2_WIDTHS)
    width5 = renamed.get('layer5.1.fusion.conv.weight')
    if width5 is not None:
        inferred = f'{width5.shape[0] / 512:g}'
        if inferred not in candidates:
            candidates.append(inferred)
    return candidates


def _mismatches(expected, found):
    """Describe the difference between two {key: shape} tables; empty when they agree."""
    problems = []
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    if missing:
        problems.append(f'{len(missing)} tensors missing (e.g. {missing[0]})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected tensors (e.g. {unexpected[0]})')
    wrong = [k for k in set(expected) & set(found) if tuple(expected[k]) != tuple(found[k])]
    if wrong:
        k = sorted(wrong)[0]
        problems.append(f'{len(wrong)} shape mismatches (e.g. {k}: expected '
                        f'{tuple(expected[k])}, found {tuple(found[k])})')
    return problems


def _backbone_shapes(arch, with_exp_conv):
    model = MobileViTv3(arch=arch, with_exp_conv=with_exp_conv, init_cfg=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def convert_classifier(state_dict, arch=None):
    """Convert the authors' classifier ``state_dict`` into our backbone (+ head) tensors.

    The variant is detected from tensor shapes; with ``arch`` given, a checkpoint of another
    variant is refused with a message naming both. Every source tensor must be used and every
    backbone tensor filled.
    """
    family = detect_family(state_dict)
    renamed = rename_keys(state_dict, family)
    head = {k: v for k, v in renamed.items() if k.startswith('head.')}
    backbone = {k: v for k, v in renamed.items() if not k.startswith('head.')}
    found = {k: tuple(v.shape) for k, v in backbone.items()}
    with_exp_conv = any(k.startswith('conv_1x1_exp.') for k in backbone)

    detected = None
    for candidate in _candidate_archs(family, renamed):
        if not _mismatches(_backbone_shapes(candidate, with_exp_conv), found):
            detected = candidate
            break
    if arch is not None:
        requested = str(arch).lower()
        if detected is not None and detected != requested:
            raise ConversionError(
                f"checkpoint holds MobileViTv3-{detected} but arch '{requested}' was requested: "
                f"pass --arch {detected}, or omit --arch to detect it")
        try:
            expected = _backbone_shapes(requested, with_exp_conv)
        except ValueError as err:
            raise ConversionError(str(err)) from err
        problems = _mismatches(expected, found)
        if problems:
            raise ConversionError(
                f"checkpoint does not match MobileViTv3-{requested} ({family}-based family "
                f"detected): {'; '.join(problems)}")
        detected = requested
    if detected is None:
        raise ConversionError(
            f'no known {family}-based MobileViTv3 variant matches the checkpoint\'s tensor shapes '
            f'(tried {", ".join(_candidate_archs(family, renamed))}); pass --arch for a custom '
            'width multiplier')
    if head and set(head) != {'head.fc.weight', 'head.fc.bias'}:
        raise ConversionError(f'unexpected classifier tensors {sorted(head)}: expected the '
                              "authors' linear classifier (weight and bias)")
    return Conversion(detected, family, with_exp_conv, backbone, head)


def _write(tensors, meta, dst, progress):
    out = {}
    bar = ProgressBar(len(tensors)) if progress else None
    for key, value in tensors.items():
        out[key] = value.detach().clone()
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    atomic_save(dict(state_dict=out, meta=meta), dst)


def convert_checkpoint_file(src, dst, arch=None, kind='backbone', config=None, progress=True):
    """Read ``src``, convert it, and write ``dst`` atomically.

    ``kind``: 'backbone' or 'classifier' (the authors' ImageNet classifiers; returns the
    :class:`Conversion`), 'segmentor' (their DeepLabv3) or 'detector' (their SSDLite); for the
    last two ``config`` is detected from the variant and class count when omitted, and the
    conversion info dict is returned.
    """
    state_dict = extract_state_dict(load_checkpoint_file(src), source=str(src))
    if kind in ('segmentor', 'detector'):
        return _convert_dense_file(state_dict, src, dst, config, progress, kind)
    result = convert_classifier(state_dict, arch=arch)
    if kind == 'classifier' and not result.head:
        raise ConversionError(f'{src} has no classifier tensors: use --kind backbone')
    if kind == 'classifier':
        tensors = {**{'backbone.' + k: v for k, v in result.backbone.items()}, **result.head}
    else:
        tensors = result.backbone
    meta = dict(arch=result.arch, family=result.family, kind=kind,
                with_exp_conv=result.with_exp_conv, num_classes=result.num_classes,
                source=str(src))
    _write(tensors, meta, dst, progress)
    return result


def _convert_dense_file(state_dict, src, dst, config, progress, kind):
    from ..utils.model_builder import build_model_from_config
    from .cvnets_dense import convert_detector, convert_segmentor, find_config, match_model
    convert = convert_segmentor if kind == 'segmentor' else convert_detector
    tensors, info = convert(state_dict)
    config = config or find_config(info)
    model, _ = build_model_from_config(config)
    if model.backbone.arch != model.backbone.parse_arch(info['arch']):
        name = 'DeepLabv3' if kind == 'segmentor' else 'SSDLite'
        raise ConversionError(f"checkpoint holds {name} MobileViTv3-{info['arch']} but "
                              f"{config} builds another variant")
    kept = match_model(tensors, model, source=str(src))
    meta = dict(kind=kind, config=str(config), source=str(src),
                initialised_not_converted=kept, **info)
    dataset_meta = getattr(model, 'dataset_meta', None)
    if dataset_meta:
        meta['dataset_meta'] = dataset_meta
    _write(tensors, meta, dst, progress)
    return dict(info, config=str(config), kept=kept)
