"""ONNX export of backbones, classifiers, DeepLabv3 and SSDLite models, checked with onnxruntime."""
import io
import json
from pathlib import Path
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .atomic_io import atomic_write
from .tensor_mode import TensorMode


class BackboneOutputs(nn.Module):
    """The backbone's feature maps, one ONNX output per ``out_indices`` entry."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone if hasattr(model, 'backbone') else model

    def forward(self, x):
        return tuple(self.backbone(x))


class SegmentorLogits(TensorMode):
    """Per-pixel class logits at the input size (before the arg-max), as the segmentor computes
    them in ``encode_decode``: decode-head logits resized bilinearly with the head's
    ``align_corners``."""

    def forward(self, x):
        logits = super().forward(x)
        return F.interpolate(logits, size=x.shape[2:], mode='bilinear',
                             align_corners=self.model.decode_head.align_corners)


class DetectorRawOutputs(nn.Module):
    """SSD raw outputs before box decoding and NMS.

    ``scores`` ``[B, A, num_classes + 1]``: class logits, background last (mmdet's order);
    ``boxes`` ``[B, A, 4]``: box regressions (dx, dy, dw, dh) against the anchors, to be decoded
    with the head's coder (target stds 0.1, 0.1, 0.2, 0.2). A runs over feature maps, then
    locations row-major, then the anchors of a location: the order of
    ``bbox_head.prior_generator.grid_priors``.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        cls_scores, bbox_preds = self.model(x, mode='tensor')
        batch = x.shape[0]
        scores = [s.permute(0, 2, 3, 1).reshape(batch, -1, self.model.bbox_head.cls_out_channels)
                  for s in cls_scores]
        boxes = [b.permute(0, 2, 3, 1).reshape(batch, -1, 4) for b in bbox_preds]
        return torch.cat(scores, dim=1), torch.cat(boxes, dim=1)


def export_wrapper(model, backbone_only=False):
    """The module to export for ``model`` and its output names."""
    if backbone_only:
        wrapper = BackboneOutputs(model)
        return wrapper, [f'feat{i}' for i in wrapper.backbone.out_indices]
    from mmdet.models.detectors import BaseDetector
    from mmpretrain.models.classifiers import ImageClassifier
    from mmseg.models.segmentors import BaseSegmentor
    if isinstance(model, BaseSegmentor):
        return SegmentorLogits(model), ['logits']
    if isinstance(model, BaseDetector):
        return DetectorRawOutputs(model), ['scores', 'boxes']
    if isinstance(model, ImageClassifier):
        return TensorMode(model), ['logits']
    raise TypeError(f'cannot export a {type(model).__name__}: expected an mmpretrain '
                    'ImageClassifier, an mmseg segmentor or an mmdet detector (or pass '
                    '--backbone-only)')


def export_onnx(wrapper, output_names, x, path, dynamic=False, opset=17,
                metadata: Optional[Dict[str, str]] = None):
    """Export ``wrapper`` traced on ``x`` to ``path`` (atomically).

    ``dynamic`` leaves batch, height and width symbolic. The graph is traced: sizes whose
    feature maps need the MobileViT blocks' resizing take another branch than aligned sizes, so
    a dynamic model is valid for the sizes that align like the traced one (e.g. multiples of 64
    when traced at 256x256). ``metadata`` (e.g. :func:`input_metadata` of the config) is stored
    in the model's ``metadata_props``.
    """
    path = Path(path)
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({name: {0: 'batch'} for name in output_names})
    import onnx
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(wrapper.eval(), (x,), buffer, input_names=['input'],
                          output_names=output_names, dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
    onnx_model = onnx.load_from_string(buffer.getvalue())
    if metadata:
        onnx.helper.set_model_props(onnx_model, {str(k): str(v) for k, v in metadata.items()})
    atomic_write(onnx_model.SerializeToString(), path)
    return path


def onnx_differences(path, wrapper, x):
    """onnxruntime's outputs for ``x`` against PyTorch's (``wrapper``): the largest absolute
    difference, and the largest difference relative to the magnitude of each output."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    ours = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        theirs = wrapper.eval()(x)
    theirs = theirs if isinstance(theirs, (tuple, list)) else (theirs,)
    diffs = [(torch.from_numpy(a) - b).abs().max() for a, b in zip(ours, theirs)]
    absolute = max(float(d) for d in diffs)
    relative = max(float(d / b.abs().max().clamp(min=1e-12)) for d, b in zip(diffs, theirs))
    return absolute, relative


def eval_pipeline(cfg) -> List[dict]:
    """The transforms of the config's test dataloader (inside dataset wrappers too)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    if 'pipeline' not in dataset:
        raise ValueError('the config\'s test_dataloader.dataset has no pipeline: cannot state the '
                         'exported model\'s expected input')
    return [dict(t) for t in dataset.pipeline]


def _describe_step(transform: dict) -> str:
    args = ', '.join(f'{k}={v!r}' for k, v in transform.items() if k != 'type')
    return f"{transform['type']}({args})"


def input_metadata(cfg) -> Dict[str, str]:
    """What an exported model of ``cfg`` expects as input, for the ONNX ``metadata_props``.

    Read from the config, not per architecture: the channel order from the test pipeline's
    decoder (mmcv decodes to BGR unless the loader has a ``channel_order``) and the data
    preprocessor's swap (``to_rgb`` in mmpretrain, ``bgr_to_rgb`` / ``rgb_to_bgr`` in
    mmseg/mmdet); the scaling from its ``mean`` / ``std``; the resize library and mode from the
    pipeline's resize transforms (their built ``backend`` / ``interpolation``); the network input
    size by running the geometric steps of the test pipeline on two blank images of different
    shape (a fixed size when both give the same).

    Returns:
        dict[str, str]: ``input_layout``, ``input_channel_order`` (``BGR`` / ``RGB``),
        ``input_scaling``, ``input_mean``, ``input_std``, ``input_resize``, ``input_size``,
        ``input_pipeline``.
    """
    import numpy as np
    from mmengine.dataset import Compose
    from mmengine.registry import TRANSFORMS, DefaultScope

    preprocessor = dict(cfg.model.get('data_preprocessor') or {})
    pipeline = eval_pipeline(cfg)
    scope = cfg.get('default_scope', 'mmengine')
    with DefaultScope.overwrite_default_scope(scope):
        built = [TRANSFORMS.build(t) for t in pipeline]

    loaders = [t for t in built if type(t).__name__.startswith('Load') and 'Image' in type(t).__name__]
    decoded = str(getattr(loaders[0], 'channel_order', 'bgr')).upper() if loaders else 'BGR'
    swap = any(preprocessor.get(key, False) for key in ('to_rgb', 'bgr_to_rgb', 'rgb_to_bgr'))
    order = {'BGR': 'RGB', 'RGB': 'BGR'}[decoded] if swap else decoded

    mean, std = preprocessor.get('mean'), preprocessor.get('std')
    if mean is None:
        scaling = 'x in [0, 255], no normalisation'
    elif all(m == 0 for m in mean) and all(v == 255 for v in std):
        scaling = 'x/255 (in [0, 1]), no mean/std normalisation'
    else:
        scaling = '(x - mean) / std, x in [0, 255]'

    resizes = [f'{type(t).__name__}: {getattr(t, "backend", "cv2")} '
               f'{getattr(t, "interpolation", "bilinear")}'
               for t in built if 'Resize' in type(t).__name__]

    # The geometric steps alone, run on blank images: what reaches the network.
    geometric = Compose([t for t in built if not type(t).__name__.startswith(('Load', 'Pack'))])
    sizes = []
    try:
        for shape in ((375, 500), (500, 333)):
            img = np.zeros(shape + (3, ), np.uint8)
            out = geometric(dict(img=img, img_shape=shape, ori_shape=shape, img_path=''))
            sizes.append((shape, tuple(out['img'].shape[:2])))
        if sizes[0][1] == sizes[1][1]:
            size = '{}x{} (H x W, for any image)'.format(*sizes[0][1])
        else:
            size = 'depends on the image: ' + '; '.join(
                f'{h}x{w} -> {oh}x{ow}' for (h, w), (oh, ow) in sizes) + ' (H x W)'
    except Exception as error:  # a transform that needs annotations: state the steps only
        size = f'see input_pipeline (not run on a blank image: {type(error).__name__})'

    return {
        'input_layout': 'NCHW float32, 3 channels',
        'input_channel_order': order,
        'input_scaling': scaling,
        'input_mean': json.dumps(list(mean) if mean is not None else None),
        'input_std': json.dumps(list(std) if std is not None else None),
        'input_resize': '; '.join(resizes) if resizes else 'none',
        'input_size': size,
        'input_pipeline': ' -> '.join(_describe_step(t) for t in pipeline),
    }
