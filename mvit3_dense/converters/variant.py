"""Which :class:`MobileViTv3` variant (MobileViTv1, MobileViTv2 or MobileViTv3 ``arch``) a
source's backbone tensors fill, by their shapes.

Independent of the source format: every source maps into the same backbone, so the variant is
the one whose ``state_dict`` has exactly the mapped keys and shapes.
"""
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

from ..models.backbones.mobilevitv3 import (MOBILEVITV1_ARCHS, MOBILEVITV2_WIDTHS, V1_ARCHS,
                                            V1_PREFIX, V2_PREFIX, V2_WIDTHS, MobileViTv3)
from ..models.backbones.pretrained import Shape, compare_state_dicts
from .base import ConversionError, SourceTensors

__all__ = ['backbone_shapes', 'check_arch', 'display_name', 'resolve_arch', 'same_arch']


def check_arch(arch: str) -> str:
    """``arch`` lower-cased, or :class:`ConversionError` when no MobileViTv3 has that name."""
    name = str(arch).strip().lower()
    try:
        MobileViTv3.parse_arch(name)
    except ValueError:
        raise ConversionError(
            f'unknown arch {arch!r}: choose one of {", ".join(V1_ARCHS)} (MobileViTv3 '
            f'v1-based), a width multiplier such as {", ".join(V2_WIDTHS)} (MobileViTv3 '
            'v2-based; any positive number), '
            f'{", ".join(V1_PREFIX + m for m in MOBILEVITV1_ARCHS)} (MobileViTv1), '
            f"'{V2_PREFIX}<width>' such as {V2_PREFIX}1.0 (MobileViTv2), or omit it to detect "
            'the variant from the checkpoint') from None
    return name


def display_name(arch: str) -> str:
    """The network and variant an arch name builds: ``'MobileViTv3-xxs'``,
    ``'MobileViTv1-xxs'``, ``'MobileViTv2-0.5'``."""
    key = str(arch).lower()
    for prefix in (V1_PREFIX, V2_PREFIX):
        if key.startswith(prefix):
            return f'MobileViT{prefix[len("mobilevit"):-1]}-{key[len(prefix):]}'
    return f'MobileViTv3-{key}'


def _network_name(mapped: SourceTensors) -> str:
    if mapped.network == 'mobilevitv3':
        return f'{mapped.family}-based MobileViTv3'
    return {'mobilevitv1': 'MobileViTv1', 'mobilevitv2': 'MobileViTv2'}[mapped.network]


def same_arch(a: str, b: str) -> bool:
    """Whether two arch names build the same network (``'1'`` and ``'1.0'`` do)."""
    return MobileViTv3.parse_arch(a) == MobileViTv3.parse_arch(b)


@lru_cache(maxsize=None)
def backbone_shapes(arch: str, with_exp_conv: bool) -> Dict[str, Shape]:
    """``{key: shape}`` of ``MobileViTv3(arch, with_exp_conv)`` (cached; do not modify)."""
    model = MobileViTv3(arch=arch, with_exp_conv=with_exp_conv, init_cfg=None)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _candidates(mapped: SourceTensors) -> List[str]:
    if mapped.archs is not None:
        return list(mapped.archs)
    if mapped.network == 'mobilevitv1':
        return [V1_PREFIX + name for name in MOBILEVITV1_ARCHS]
    if mapped.family == 'v1':
        return list(V1_ARCHS)
    if mapped.network == 'mobilevitv2':
        prefix, widths, last = V2_PREFIX, MOBILEVITV2_WIDTHS, 'layer5.1.conv_proj.conv.weight'
    else:
        prefix, widths, last = '', V2_WIDTHS, 'layer5.1.fusion.conv.weight'
    candidates = [prefix + w for w in widths]
    # Another width multiplier: layer5's block has 512 * width output channels.
    width5 = mapped.backbone.get(last)
    if width5 is not None:
        inferred = f'{prefix}{width5.shape[0] / 512:g}'
        if not any(same_arch(inferred, c) for c in candidates):
            candidates.append(inferred)
    return candidates


def resolve_arch(mapped: SourceTensors, arch: Optional[str] = None) -> Tuple[str, bool]:
    """The variant the backbone tensors fill, and whether they hold ``conv_1x1_exp``.

    Detected from the shapes; with ``arch`` given, a checkpoint of another variant is refused
    with a message naming both, and one that fits no variant with the differences from ``arch``.
    """
    with_exp_conv = any(k.startswith('conv_1x1_exp.') for k in mapped.backbone)
    candidates = _candidates(mapped)
    fits = [c for c in candidates
            if compare_state_dicts(backbone_shapes(c, with_exp_conv), mapped.backbone).ok]
    if arch is not None:
        requested = check_arch(arch)
        if fits and not any(same_arch(requested, c) for c in fits):
            raise ConversionError(
                f"checkpoint holds {display_name(fits[0])} but arch '{requested}' was requested: "
                f'pass --arch {fits[0]}, or omit --arch to detect it')
        try:
            diff = compare_state_dicts(backbone_shapes(requested, with_exp_conv), mapped.backbone)
        except ValueError as err:  # e.g. a v2-based width with conv_1x1_exp tensors
            raise ConversionError(f'checkpoint does not fit {display_name(requested)}: {err}') \
                from err
        if not diff.ok:
            raise ConversionError(
                f'checkpoint does not match {display_name(requested)} '
                f'({_network_name(mapped)} detected): {diff.describe()}')
        return next((c for c in fits if same_arch(requested, c)), requested), with_exp_conv
    if not fits:
        raise ConversionError(
            f'no known {_network_name(mapped)} variant matches the checkpoint\'s tensor '
            f'shapes (tried {", ".join(candidates)}); pass --arch for a custom width multiplier')
    if len(fits) > 1:
        raise ConversionError(f'the checkpoint fits several variants ({", ".join(fits)}): '
                              'pass --arch to choose one')
    return fits[0], with_exp_conv
