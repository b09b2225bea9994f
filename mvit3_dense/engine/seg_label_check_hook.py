from collections import Counter

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils.errors import InputError


@HOOKS.register_module()
class SegLabelCheckHook(Hook):
    """Names segmentation ground truth whose labels lie outside the classes.

    Without it, a label ``>= num_classes`` (other than the ignore index) stops training deep in
    the loss (``Target 7 is out of bounds``), and evaluation leaves it out of the metric without
    a word (mmseg's ``IoUMetric`` and the authors' confusion matrix both ignore such pixels).
    Training batches holding one are refused with the mask file and the values; evaluation
    follows the metric's convention and reports the count once, at the end of the loop.
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._pixels = Counter()  # values -> count, over the current evaluation
        self._files = {}

    @staticmethod
    def _label_space(runner, loader):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        # An ExportedModel keeps the configured segmentor beside its runtime as ``model``.
        head = getattr(model, 'decode_head', None) or getattr(getattr(model, 'model', None),
                                                              'decode_head', None)
        num_classes = getattr(head, 'num_classes', None)
        if num_classes is None:
            # The running loop's own data: at test time no training set need exist.
            num_classes = len(loader.dataset.metainfo.get('classes', ()))
        return num_classes, getattr(head, 'ignore_index', 255)

    @staticmethod
    def _outside(data_batch, num_classes, ignore_index):
        """(mask file, {value: pixels}) for each sample holding labels outside the classes."""
        for sample in (data_batch or {}).get('data_samples', None) or ():
            seg = getattr(sample, 'gt_sem_seg', None)
            if seg is None:
                continue
            values, counts = torch.unique(seg.data, return_counts=True)
            bad = {int(v): int(c) for v, c in zip(values, counts)
                   if (v < 0 or v >= num_classes) and v != ignore_index}
            if bad:
                yield sample.metainfo.get('seg_map_path', '(unnamed mask)'), bad

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        num_classes, ignore_index = self._label_space(runner, runner.train_dataloader)
        for path, bad in self._outside(data_batch, num_classes, ignore_index):
            values = ', '.join(f'{v} ({c} pixels)' for v, c in sorted(bad.items()))
            raise InputError(
                f'{path} holds labels outside the {num_classes} classes (0-{num_classes - 1}) '
                f'and the ignore index {ignore_index}: {values}. Fix the mask, or make '
                "num_classes (or the dataset's reduce_zero_label) match the data.")

    def _collect(self, runner, loader, data_batch):
        num_classes, ignore_index = self._label_space(runner, loader)
        for path, bad in self._outside(data_batch, num_classes, ignore_index):
            self._pixels.update(bad)
            self._files.setdefault(path, sorted(bad))

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._collect(runner, runner.val_dataloader, data_batch)

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._collect(runner, runner.test_dataloader, data_batch)

    def _report(self, runner, loader):
        if not self._files:
            return
        num_classes, ignore_index = self._label_space(runner, loader)
        path, values = next(iter(self._files.items()))
        runner.logger.warning(
            f'{sum(self._pixels.values())} ground-truth pixels in {len(self._files)} masks hold '
            f'labels outside the {num_classes} classes and the ignore index {ignore_index} '
            f'(values {sorted(self._pixels)}; e.g. {path}: {values}); the metric leaves them '
            'out. Check the masks or num_classes.')
        self._pixels, self._files = Counter(), {}

    def after_val_epoch(self, runner, metrics=None):
        self._report(runner, runner.val_dataloader)

    def after_test_epoch(self, runner, metrics=None):
        self._report(runner, runner.test_dataloader)
