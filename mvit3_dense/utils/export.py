"""ONNX export of backbones, classifiers, DeepLabv3 and SSDLite models, checked with onnxruntime."""
import os
import tempfile
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


class BackboneOutputs(nn.Module):
    """The backbone's feature maps, one ONNX output per ``out_indices`` entry."""

    def __init__(self, model):
        super().__init__()
        self.backbone = model.backbone if hasattr(model, 'backbone') else model

    def forward(self, x):
        return tuple(self.backbone(x))


class ClassifierLogits(nn.Module):

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x, mode='tensor')


class SegmentorLogits(nn.Module):
    """Per-pixel class logits at the input size (before the arg-max), as the segmentor computes
    them in ``encode_decode``: decode-head logits resized bilinearly with the head's
    ``align_corners``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        logits = self.model(x, mode='tensor')
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
        return ClassifierLogits(model), ['logits']
    raise TypeError(f'cannot export a {type(model).__name__}: expected an mmpretrain '
                    'ImageClassifier, an mmseg segmentor or an mmdet detector (or pass '
                    '--backbone-only)')


def export_onnx(wrapper, output_names, x, path, dynamic=False, opset=17):
    """Export ``wrapper`` traced on ``x`` to ``path`` (atomically).

    ``dynamic`` leaves batch, height and width symbolic. The graph is traced: sizes whose
    feature maps need the MobileViT blocks' resizing take another branch than aligned sizes, so
    a dynamic model is valid for the sizes that align like the traced one (e.g. multiples of 64
    when traced at 256x256).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = None
    if dynamic:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        axes.update({name: {0: 'batch'} for name in output_names})
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    os.close(fd)
    try:
        with torch.no_grad():
            torch.onnx.export(wrapper.eval(), (x,), tmp, input_names=['input'],
                              output_names=output_names, dynamic_axes=axes,
                              opset_version=opset, dynamo=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def onnx_max_abs_diff(path, wrapper, x):
    """Largest absolute difference between onnxruntime's and PyTorch's outputs for ``x``."""
    import onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    ours = session.run(None, {'input': x.numpy()})
    with torch.no_grad():
        theirs = wrapper.eval()(x)
    theirs = theirs if isinstance(theirs, (tuple, list)) else (theirs,)
    return max(float((torch.from_numpy(a) - b).abs().max()) for a, b in zip(ours, theirs))
