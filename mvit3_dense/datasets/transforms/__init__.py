"""Transforms that reproduce the authors' evaluation inputs where mmcv/mmseg/mmdet/mmpretrain differ.

One module per task; importing this package registers them all.
"""
from . import cls, det, seg  # noqa: F401
