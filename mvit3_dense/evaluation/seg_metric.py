"""Segmentation IoU scored from one confusion matrix, as the MobileViTv3 authors score it."""
import json
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np
import torch
from mmengine.logging import MMLogger, print_log
from PIL import Image
from prettytable import PrettyTable

from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

from ..utils.atomic_io import atomic_write


def authors_scores(confusion: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Global accuracy, per-class accuracy and IoU of a (GT rows, prediction columns) confusion
    matrix, in float32 with the authors' operations (ml-cvnets ``metrics/confusion_mat.py``
    ``compute``), and their mIoU: the plain mean, NaN if a class has neither GT nor prediction."""
    h = confusion.float()
    diag = torch.diag(h)
    iou = diag / (h.sum(1) + h.sum(0) - diag)
    return dict(acc_global=diag.sum() / h.sum(), acc_per_class=diag / h.sum(1),
                iou_per_class=iou, miou_authors=iou.mean())


@METRICS.register_module()
class ConfusionMatrixIoUMetric(IoUMetric):
    """mmseg's ``IoUMetric`` computed as the authors' ``ConfusionMatrix``.

    What differs from ``IoUMetric`` (v1: ml-cvnets d38a116 ``engine/eval_segmentation.py:42-70,
    258``; v2: ml-cvnets 84d992f ``metrics/confusion_mat.py:18-41``,
    ``engine/eval_segmentation.py:296``):

    - every pixel whose label lies outside ``[0, num_classes)`` is ignored (``ignore_index`` and
      any other out-of-range value; mmseg only drops ``ignore_index``);
    - the per-class IoU and accuracy come from one confusion matrix summed over the set,
      computed in float32 as theirs;
    - ``mIoU`` is the authors' plain mean of the per-class IoU (NaN if a class is absent from both
      ground truth and prediction); mmseg's NaN-skipping mean is ``mIoU_nanmean``. Both, like
      ``aAcc`` and ``mAcc`` (NaN-skipping), in percent, not rounded.

    With ``output_dir`` the predicted label maps are written as PNGs (+1 under
    ``reduce_zero_label``, as ``IoUMetric``), and ``confusion_matrix.json`` beside them holds the
    matrix and the unscaled scores.
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze(0)
            if not self.format_only:
                label = sample['gt_sem_seg']['data'].squeeze(0).to(pred.device)
                self.results.append(self.confusion_entries(pred, label, num_classes))
            if self.output_dir is not None:
                mask = pred.cpu().numpy()
                if sample.get('reduce_zero_label', False):
                    mask = mask + 1
                name = osp.splitext(osp.basename(sample['img_path']))[0] + '.png'
                Image.fromarray(mask.astype(np.uint8)).save(osp.join(self.output_dir, name))

    @staticmethod
    def confusion_entries(pred: torch.Tensor, label: torch.Tensor, num_classes: int) -> tuple:
        """One image's confusion matrix as (flat indices ``num_classes * gt + pred``, counts)."""
        if pred.shape != label.shape:
            raise ValueError(f'prediction {tuple(pred.shape)} and ground truth '
                             f'{tuple(label.shape)} differ in size: the ground truth must be read '
                             'at the original image size (LoadAnnotations after any Resize)')
        valid = (label >= 0) & (label < num_classes)
        flat = num_classes * label[valid].to(torch.int64) + pred[valid].to(torch.int64)
        index, counts = torch.unique(flat, return_counts=True)
        return index.cpu().numpy(), counts.cpu().numpy()

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        classes = list(self.dataset_meta['classes'])
        n = len(classes)
        confusion = torch.zeros(n * n, dtype=torch.int64)
        for index, counts in results:
            confusion.index_add_(0, torch.from_numpy(index), torch.from_numpy(counts))
        confusion = confusion.reshape(n, n)
        scores = authors_scores(confusion)
        iou, acc = scores['iou_per_class'], scores['acc_per_class']
        miou_nanmean = float(np.nanmean(iou.double().numpy()))
        metrics = dict(aAcc=100 * scores['acc_global'].item(),
                       mIoU=100 * scores['miou_authors'].item(),
                       mIoU_nanmean=100 * miou_nanmean,
                       mAcc=100 * float(np.nanmean(acc.double().numpy())))

        table = PrettyTable(['Class', 'IoU', 'Acc'])
        for name, class_iou, class_acc in zip(classes, iou.tolist(), acc.tolist()):
            table.add_row([name, f'{100 * class_iou:.2f}', f'{100 * class_acc:.2f}'])
        print_log('per class results (authors\' confusion matrix):\n' + table.get_string(),
                  logger=MMLogger.get_current_instance())

        if self.output_dir is not None:
            def plain(values):
                return [None if v != v else v for v in values.tolist()]
            record = dict(classes=classes, n_images=len(results),
                          confusion_matrix=confusion.tolist(),
                          iou_per_class=plain(iou), acc_per_class=plain(acc),
                          acc_global=scores['acc_global'].item(),
                          miou_authors=plain(scores['miou_authors'].reshape(1))[0],
                          miou_nanmean=miou_nanmean)
            atomic_write(json.dumps(record), osp.join(self.output_dir, 'confusion_matrix.json'),
                         mode='w')
        return metrics
