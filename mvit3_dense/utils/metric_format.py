"""Metrics printed by the tools: one ``name: value`` line each."""
import numbers
from typing import Mapping


def format_metrics(metrics: Mapping[str, object]) -> str:
    """One line per metric, e.g. ``mIoU: 61.2500`` (numpy scalars included)."""
    return '\n'.join(f'{k}: {float(v):.4f}' if isinstance(v, numbers.Real) and not isinstance(
        v, (bool, int)) else f'{k}: {v}' for k, v in metrics.items())


__all__ = ['format_metrics']
