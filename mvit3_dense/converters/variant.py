"""Which :class:`MobileViTv3` variant a source's backbone tensors fill, by their shapes.

Independent of the source format: every source maps into the same backbone, so the variant is
the one whose ``state_dict`` has exactly the mapped keys and shapes.
"""
from functools import lru_cache
from typing import Dict, List, Optional, Tuple

from ..models.backbones.mobilevitv3 import V1_ARCHS, V2_WIDTHS, MobileViTv3
from ..models.backbones.pretrained import Shape, compare_state_dicts
from .base import ConversionError, SourceTensors

__all__ = ['backbone_shapes', 'check_arch', 'resolve_arch', 'same_arch']


def check_arch(arch: str) -> str:
    """``arch`` lower-cased, or :class:`ConversionError` when no MobileViTv3 has that name."""
    name = str(arch).strip().lower()
    try:
        MobileViTv3.parse_arch(name)
    except ValueError:
        raise ConversionError(
            f'unknown arch {arch!r}: choose one of {", ".join(V1_ARCHS)} (v1-based) or a '
            f'width multiplier such as {", ".join(V2_WIDTHS)} (v2-based; any positive number), '
            'or omit it to detect the variant from the checkpoint') from None
    return name


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
    if mapped.family == 'v1':
        return list(V1_ARCHS)
    candidates = list(V2_WIDTHS)
    # Another width multiplier: layer5's fusion has 512 * width output channels.
    width5 = mapped.backbone.get('layer5.1.fusion.conv.weight')
    if width5 is not None:
        inferred = f'{width5.shape[0] / 512:g}'
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
                f"checkpoint holds MobileViTv3-{fits[0]} but arch '{requested}' was requested: "
                f'pass --arch {fits[0]}, or omit --arch to detect it')
        try:
            diff = compare_state_dicts(backbone_shapes(requested, with_exp_conv), mapped.backbone)
        except ValueError as err:  # e.g. a v2-based width with conv_1x1_exp tensors
            raise ConversionError(f'checkpoint does not fit MobileViTv3-{requested}: {err}') \
                from err
        if not diff.ok:
            raise ConversionError(
                f'checkpoint does not match MobileViTv3-{requested} ({mapped.family}-based '
                f'family detected): {diff.describe()}')
        return next((c for c in fits if same_arch(requested, c)), requested), with_exp_conv
    if not fits:
        raise ConversionError(
            f'no known {mapped.family}-based MobileViTv3 variant matches the checkpoint\'s tensor '
            f'shapes (tried {", ".join(candidates)}); pass --arch for a custom width multiplier')
    if len(fits) > 1:
        raise ConversionError(f'the checkpoint fits several variants ({", ".join(fits)}): '
                              'pass --arch to choose one')
    return fits[0], with_exp_conv
