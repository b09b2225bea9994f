"""Loading a ``Pretrained`` backbone checkpoint with errors that say what is wrong.

Also home of :func:`compare_state_dicts`, the one missing / unexpected / shape check used by this
loader and by the checkpoint converters (``mvit3_dense.converters``). It lives here, in a module
that imports nothing of the package but ``utils.checkpoint``, so both can import it without an
import circle.
"""
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from ...utils.checkpoint import (CONVERTER, CheckpointError, extract_state_dict,
                                 load_checkpoint_file)

Shape = Tuple[int, ...]
ShapeLike = Union[torch.Tensor, Sequence[int]]

__all__ = ['StateDictDiff', 'compare_state_dicts', 'load_pretrained_backbone']


@dataclass(frozen=True)
class StateDictDiff:
    """How a set of tensors differs from the expected one (keys in their tables' order)."""
    missing: Tuple[str, ...]
    unexpected: Tuple[str, ...]
    mismatched: Tuple[Tuple[str, Shape, Shape], ...]  # (key, expected shape, found shape)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        """One line: the count of each kind of difference with its first example."""
        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} tensors missing (e.g. {self.missing[0]})')
        if self.unexpected:
            parts.append(f'{len(self.unexpected)} unexpected tensors (e.g. {self.unexpected[0]})')
        if self.mismatched:
            key, expected, found = self.mismatched[0]
            parts.append(f'{len(self.mismatched)} shape mismatches (e.g. {key}: expected '
                         f'{expected}, found {found})')
        return '; '.join(parts)


def _shape(value: ShapeLike) -> Shape:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else tuple(value)


def compare_state_dicts(expected: Mapping[str, ShapeLike], found: Mapping[str, ShapeLike], *,
                        ignore_unexpected: Tuple[str, ...] = ()) -> StateDictDiff:
    """Compare two ``{key: tensor or shape}`` tables.

    Args:
        expected: what the target holds (e.g. ``model.state_dict()``).
        found: what is offered for it (e.g. converted or loaded tensors).
        ignore_unexpected: key prefixes of ``found`` that may be left unused.
    """
    missing = tuple(k for k in expected if k not in found)
    unexpected = tuple(k for k in found if k not in expected and not k.startswith(
        ignore_unexpected))
    mismatched = tuple((k, _shape(v), _shape(found[k])) for k, v in expected.items()
                       if k in found and _shape(v) != _shape(found[k]))
    return StateDictDiff(missing, unexpected, mismatched)


def load_pretrained_backbone(backbone: nn.Module, checkpoint: str, prefix: Optional[str] = None,
                             arch_name: Optional[str] = None) -> None:
    """Load ``checkpoint`` into ``backbone``, refusing anything but its own variant's weights.

    ``prefix`` selects the backbone's tensors in a whole-model checkpoint (e.g. ``'backbone.'``).
    A converted v1-based checkpoint may carry the 1x1 expansion that dense models drop; any other
    difference is an error naming the variant found and the one expected.
    """
    raw = load_checkpoint_file(checkpoint)
    state_dict = extract_state_dict(raw, source=str(checkpoint))
    if prefix:
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not state_dict:
            raise CheckpointError(f"{checkpoint} has no tensors under the prefix '{prefix}'")
    if any(k.startswith(('conv_1.block.', 'encoder.conv_1.')) for k in state_dict):
        raise CheckpointError(
            f"{checkpoint} is in the authors' (CVNets) format: convert it first with "
            f'python {CONVERTER} {checkpoint} OUT.pth, then point init_cfg at OUT.pth')
    expected = backbone.state_dict()
    if not any(k in expected for k in state_dict):
        raise CheckpointError(
            f'{checkpoint} is not a MobileViTv3 backbone checkpoint (e.g. key '
            f"'{next(iter(state_dict))}'); for a whole-model checkpoint set init_cfg's prefix "
            "(e.g. prefix='backbone.')")
    meta = raw.get('meta', {}) if isinstance(raw, dict) else {}
    found = f"MobileViTv3-{meta['arch']}" if isinstance(meta, dict) and 'arch' in meta else \
        'another MobileViTv3 variant'
    diff = compare_state_dicts(expected, state_dict, ignore_unexpected=('conv_1x1_exp.', ))
    if not diff.ok:
        raise CheckpointError(
            f'{checkpoint} holds {found} weights, which do not fit this MobileViTv3-'
            f'{arch_name or "?"} backbone: {diff.describe()}. Use a checkpoint converted from the '
            f'same variant ({CONVERTER} checks this), or change the arch.')
    backbone.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
