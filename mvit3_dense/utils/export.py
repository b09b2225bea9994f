"""ONNX export of backbones, classifiers, DeepLabv3 and SSDLite models, checked with onnxruntime."""
import io
import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from .atomic_io import atomic_write
from .tensor_mode import TensorMode


class BackboneOutputs(nn.Module):
    """The backbone's feature maps, one ONNX output per ``out_indices`` entry."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone if hasattr(model, 'backbone') else model

    def forward(self, x):
        return tuple(self.backbone(x))


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
        # The decode head's logits at 1/OS of the input: resizing them to the image is the
        # segmentor's own step (v1 and v2 resize differently, MobileViTv3EncoderDecoder), and
        # costs nothing on the device until a caller needs full-size logits.
        return TensorMode(model), ['logits']
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


def eval_pipeline(cfg) -> List[dict]:
    """The transforms of the config's test dataloader (inside dataset wrappers too)."""
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    if 'pipeline' not in dataset:
        raise ValueError('the config\'s test_dataloader.dataset has no pipeline: cannot state the '
                         'exported model\'s expected input')
    return [dict(t) for t in dataset.pipeline]


def _built_pipeline(cfg) -> list:
    from mmengine.registry import TRANSFORMS, DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmengine')):
        return [TRANSFORMS.build(t) for t in eval_pipeline(cfg)]


# Two image shapes of different aspect: a test pipeline that gives both the same size fixes it.
_PROBE_SHAPES = ((375, 500), (500, 333))


def network_input_sizes(cfg) -> List[Tuple[Tuple[int, int], Tuple[int, int]]]:
    """``(image shape, network input shape)`` for two blank images of different shape, run
    through the geometric steps of the config's test pipeline (loading and packing left out)."""
    import numpy as np
    from mmengine.dataset import Compose
    geometric = Compose([t for t in _built_pipeline(cfg)
                         if not type(t).__name__.startswith(('Load', 'Pack'))])
    sizes = []
    for shape in _PROBE_SHAPES:
        img = np.zeros(shape + (3, ), np.uint8)
        out = geometric(dict(img=img, img_shape=shape, ori_shape=shape, img_path=''))
        sizes.append((shape, tuple(out['img'].shape[:2])))
    return sizes


def network_input_size(cfg) -> Optional[Tuple[int, int]]:
    """The network input size (H, W) the config's test pipeline gives every image, or None
    when it depends on the image (or the pipeline cannot run on a blank image)."""
    try:
        (_, first), (_, second) = network_input_sizes(cfg)
    except Exception:  # noqa: BLE001  a transform that needs annotations
        return None
    return first if first == second else None


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
    preprocessor = dict(cfg.model.get('data_preprocessor') or {})
    pipeline = eval_pipeline(cfg)
    built = _built_pipeline(cfg)

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

    try:
        sizes = network_input_sizes(cfg)
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
