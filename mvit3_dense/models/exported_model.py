"""Evaluate an exported network (ONNX Runtime, ExecuTorch) with the config's own pipeline,
post-processing and metric.

:class:`ExportedModel` is an mmengine model whose network is the exported file: the config's data
preprocessor prepares the batch, the runtime computes what ``mode='tensor'`` computes in
PyTorch, and the PyTorch model's own post-processing turns that into predictions (the authors'
logit resizing for DeepLabv3, their box decoding and NMS for SSDLite, softmax for classifiers).
Everything but the network is therefore the same code as ``tools/test.py``, so a metric that
moves measures the export (e.g. int8 quantisation) alone.
"""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.model import BaseModel
from mmengine.registry import MODELS
from torch import Tensor

from ..utils.runtime_sessions import load_exported


def _task(model) -> str:
    from mmdet.models.detectors import BaseDetector
    from mmpretrain.models.classifiers import ImageClassifier
    from mmseg.models.segmentors import BaseSegmentor
    if isinstance(model, BaseSegmentor):
        if not hasattr(model, 'logits_to_samples'):
            raise TypeError(f'{type(model).__name__}: an exported segmentor is evaluated through '
                            'MobileViTv3EncoderDecoder.prepare_test_inputs/logits_to_samples')
        return 'seg'
    if isinstance(model, BaseDetector):
        return 'det'
    if isinstance(model, ImageClassifier):
        return 'cls'
    raise TypeError(f'cannot evaluate an exported {type(model).__name__}: expected an mmpretrain '
                    'ImageClassifier, an mmseg segmentor or an mmdet detector')


# In mmengine's root registry, so that every library's scope (mmseg, mmdet, mmpretrain) finds it.
@MODELS.register_module()
class ExportedModel(BaseModel):
    """The predictions of the config's model with its network run from an exported file.

    ``tools/test.py CONFIG MODEL.onnx|MODEL.pte`` puts it around the config's ``model``.

    Args:
        model (dict): the config's model; built for its data preprocessor and post-processing
            (its weights are not used; its network only gives SSD's feature-map sizes).
        file (str): the export of :func:`mvit3_dense.utils.export.export_wrapper` (classifier
            logits, DeepLabv3 head logits at 1/OS, SSD raw ``scores`` / ``boxes``) as written by
            ``tools/deployment/export.py``.
        threads (int): ONNX Runtime's intra-op threads (0: its default).
        data_preprocessor (dict, optional): the config's top-level ``data_preprocessor``, which
            mmengine's Runner passes to every model it builds (mmpretrain configs keep theirs
            there); handed on to ``model``.
    """

    def __init__(self, model: dict, file: str, threads: int = 0,
                 data_preprocessor: Optional[dict] = None) -> None:
        network = MODELS.build(model, default_args=dict(data_preprocessor=data_preprocessor))
        super().__init__(data_preprocessor=network.data_preprocessor)
        self.task = _task(network)
        self.model = network.eval()
        self.file = file
        self.run = load_exported(file, threads=threads)
        self._featmap_sizes: Dict[Tuple[int, int], List[Tuple[int, int]]] = {}

    def forward(self, inputs: Tensor, data_samples: Optional[list] = None, mode: str = 'predict'):
        if mode != 'predict':
            raise ValueError(f"an exported model only predicts (mode='predict'), got {mode!r}")
        with torch.no_grad():
            return getattr(self, f'_predict_{self.task}')(inputs, data_samples)

    def _predict_cls(self, inputs: Tensor, data_samples):
        logits, = self.run(inputs)
        return self.model.head._get_predictions(logits, data_samples)

    def _predict_seg(self, inputs: Tensor, data_samples):
        inputs, metas = self.model.prepare_test_inputs(inputs, data_samples)
        logits, = self.run(inputs)
        return self.model.logits_to_samples(logits, inputs.shape[2:], metas, data_samples)

    def _predict_det(self, inputs: Tensor, data_samples):
        scores, boxes = self.run(inputs)
        head = self.model.bbox_head
        cls_scores, bbox_preds = [], []
        start = 0
        # Undo DetectorRawOutputs' flattening: per level, locations row-major, then anchors.
        for (height, width), anchors in zip(self.featmap_sizes(inputs),
                                            head.prior_generator.num_base_priors):
            end = start + height * width * anchors
            cls_scores.append(scores[:, start:end].reshape(len(inputs), height, width, -1)
                              .permute(0, 3, 1, 2))
            bbox_preds.append(boxes[:, start:end].reshape(len(inputs), height, width, -1)
                              .permute(0, 3, 1, 2))
            start = end
        if start != scores.shape[1]:
            raise ValueError(f'the exported detector gives {scores.shape[1]} anchors, the config\'s '
                             f'model {start}: the file was not exported from this config')
        metas = [sample.metainfo for sample in data_samples]
        results = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas, rescale=True)
        return self.model.add_pred_to_datasample(data_samples, results)

    def featmap_sizes(self, inputs: Tensor) -> List[Tuple[int, int]]:
        """The SSD head's feature-map sizes for this input size (from one PyTorch forward of a
        blank image, cached per size: the flattened outputs do not carry them)."""
        size = tuple(inputs.shape[2:])
        if size not in self._featmap_sizes:
            cls_scores, _ = self.model(inputs[:1].new_zeros((1, ) + inputs.shape[1:]), mode='tensor')
            self._featmap_sizes[size] = [tuple(s.shape[2:]) for s in cls_scores]
        return self._featmap_sizes[size]
