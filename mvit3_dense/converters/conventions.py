"""The input convention a converted timm / Hugging Face classifier expects, as mmpretrain settings.

The converted tensors only reproduce the source's logits on the source's input: timm's
MobileViTs take RGB in [0, 1] (mean 0, std 1) resized by the shorter side to
``floor(256 / crop_pct)`` with bicubic interpolation and centre-cropped to 256; transformers'
``MobileViTImageProcessor`` rescales by 1/255, resizes the shorter side (bilinear in Apple's
published processor configs: 288), centre-crops to 256 and flips RGB to BGR
(``do_flip_channel_order``). :func:`input_convention` gives the ``data_preprocessor`` and
``test_pipeline`` of an mmpretrain config doing the same on images read by
``LoadImageFromFile`` (BGR).
"""
import math
from typing import Any, Dict, Optional

from .base import ConversionError

__all__ = ['input_convention']

# timm's crop_pct of each model family (timm/models/mobilevit.py, _cfg / default_cfgs).
_TIMM_CROP_PCT = {'mobilevitv1': 0.9, 'mobilevitv2': 0.888}


def input_convention(source: str, network: str, *, crop_size: int = 256,
                     resize: Optional[int] = None,
                     interpolation: Optional[str] = None) -> Dict[str, Any]:
    """``dict(data_preprocessor=..., test_pipeline=...)`` for an mmpretrain config that feeds a
    classifier converted from ``source`` (``'timm'`` or ``'hf'``) what that library feeds it.

    Args:
        source: ``'timm'`` or ``'hf'``.
        network: ``'mobilevitv1'`` or ``'mobilevitv2'`` (:attr:`Conversion.network`).
        crop_size: side of the centre crop (the models' 256).
        resize: shorter side before cropping; defaults to timm's ``floor(crop_size /
            crop_pct)`` or the Hugging Face processors' 288.
        interpolation: ``'bicubic'`` (timm's default) or ``'bilinear'`` (Hugging Face's).
    """
    if network not in _TIMM_CROP_PCT:
        raise ConversionError(f'no input convention for network {network!r}: expected one of '
                              f'{", ".join(_TIMM_CROP_PCT)}')
    if source == 'timm':
        resize = resize or math.floor(crop_size / _TIMM_CROP_PCT[network])
        interpolation, to_rgb = interpolation or 'bicubic', True
    elif source == 'hf':
        # MobileViTImageProcessor's do_flip_channel_order: the model takes BGR, as read.
        resize, interpolation, to_rgb = resize or 288, interpolation or 'bilinear', False
    else:
        raise ConversionError(f"no input convention for source {source!r}: 'timm' or 'hf'")
    return dict(
        # Pixels in [0, 255] -> [0, 1], no mean / std.
        data_preprocessor=dict(type='ClsDataPreprocessor', mean=[0.0, 0.0, 0.0],
                               std=[255.0, 255.0, 255.0], to_rgb=to_rgb),
        test_pipeline=[
            dict(type='LoadImageFromFile'),
            # Pillow, as both libraries resize with Pillow.
            dict(type='ResizeEdge', scale=resize, edge='short', backend='pillow',
                 interpolation=interpolation),
            dict(type='CenterCrop', crop_size=crop_size),
            dict(type='PackInputs'),
        ])
