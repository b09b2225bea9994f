"""COCO box AP and AR as the authors' detection evaluation computes them."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

# COCOeval.stats in pycocotools' order, at its default maxDets 1, 10, 100.
STAT_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@1', 'AR@10', 'AR@100',
              'AR_s@100', 'AR_m@100', 'AR_l@100')


@METRICS.register_module()
class MobileViTv3CocoMetric(CocoMetric):
    """mmdet's :class:`CocoMetric` for boxes, scored as the authors' ``coco_evaluation``.

    The authors (cvnets ``engine/detection_utils/coco_map.py``: d38a116 ``:14-70``, 84d992f
    ``:16-75``) call pycocotools with its defaults. Where mmdet's metric differs:

    - label ``k`` is the ``(k + 1)``-th smallest category id of the annotation file
      (``sorted(coco.getCatIds())``), where mmdet looks the dataset's class names up in the
      file's category order;
    - ``COCOeval`` keeps its maxDets 1, 10, 100; mmdet sets them to ``proposal_nums``
      (100, 300, 1000), and every AP is read at the last of them;
    - the result holds all 12 statistics of ``COCOeval.stats`` unrounded (mmdet rounds to three
      decimals): ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``, ``bbox_mAP_s/m/l``,
      ``bbox_AR@1``, ``bbox_AR@10``, ``bbox_AR@100``, ``bbox_AR_s/m/l@100``.

    The images evaluated are those the dataloader produced (all of the annotation file's images
    when the dataset is the whole file, as the authors evaluate). Results are written as mmdet
    writes them (``[x1, y1, x2 - x1, y2 - y1]``, as the authors), also to ``outfile_prefix``.

    Args:
        ann_file (str): COCO annotation file of the evaluated images.
        **kwargs: ``format_only``, ``outfile_prefix``, ``backend_args``, ``collect_device``,
            ``prefix`` as for :class:`CocoMetric`.
    """

    def __init__(self, ann_file: str, metric: str = 'bbox', **kwargs) -> None:
        if ann_file is None:
            raise ValueError('MobileViTv3CocoMetric needs ann_file: the COCO annotation file of '
                             'the evaluated images')
        if metric not in ('bbox', ['bbox']):
            raise ValueError(f"MobileViTv3CocoMetric scores boxes only (metric='bbox'), got "
                             f'{metric!r}; use mmdet\'s CocoMetric for the others')
        fixed = sorted({'proposal_nums', 'iou_thrs', 'classwise', 'metric_items'} & set(kwargs))
        if fixed:
            raise ValueError(f'MobileViTv3CocoMetric keeps pycocotools\' defaults: remove {fixed} '
                             "(or use mmdet's CocoMetric)")
        super().__init__(ann_file=ann_file, metric='bbox', **kwargs)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """The 12 COCO statistics of the collected results (see the class docstring)."""
        logger = MMLogger.get_current_instance()
        _, preds = zip(*results)
        self.cat_ids = sorted(self._coco_api.getCatIds())
        for pred in preds:
            if len(pred['labels']) and int(pred['labels'].max()) >= len(self.cat_ids):
                raise ValueError(
                    f'image {pred["img_id"]}: predicted label {int(pred["labels"].max())} has no '
                    f'category in the annotation file ({len(self.cat_ids)} categories); the '
                    "model's num_classes must equal the file's category count")
        tmp_dir = None
        outfile_prefix = self.outfile_prefix
        if outfile_prefix is None:
            tmp_dir = tempfile.TemporaryDirectory()
            outfile_prefix = osp.join(tmp_dir.name, 'results')
        result_files = self.results2json(preds, outfile_prefix)
        if self.format_only:
            logger.info(f'results are saved in {osp.dirname(outfile_prefix)}')
            return OrderedDict()
        has_results = any(len(pred['labels']) for pred in preds)
        stats, summary = coco_box_stats(self._coco_api,
                                        result_files['bbox'] if has_results else None,
                                        [pred['img_id'] for pred in preds])
        if tmp_dir is not None:
            tmp_dir.cleanup()
        logger.info('COCO box evaluation (pycocotools):\n' + summary)
        return OrderedDict((f'bbox_{name}', value) for name, value in zip(STAT_NAMES, stats))


def coco_box_stats(coco_gt: COCO, result_file: Optional[str],
                   img_ids: Sequence[int]) -> Tuple[List[float], str]:
    """``COCOeval.stats`` (12 floats) and pycocotools' summary text.

    Args:
        coco_gt (COCO): The ground truth.
        result_file (str, optional): COCO results json; None when there are no detections.
        img_ids (Sequence[int]): Images to evaluate.
    """
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if result_file is None:
            detections = _empty_results(coco_gt)
        else:
            detections = COCO.loadRes(coco_gt, result_file)
        coco_eval = COCOeval(coco_gt, detections, 'bbox')
        coco_eval.params.imgIds = list(img_ids)
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    summary = '\n'.join(line for line in out.getvalue().splitlines()
                        if line.startswith(' Average'))
    return [float(v) for v in coco_eval.stats], summary


def _empty_results(coco_gt: COCO) -> COCO:
    """A results object without detections (pycocotools' ``loadRes`` rejects an empty list)."""
    empty = COCO()
    empty.dataset = dict(images=list(coco_gt.dataset['images']),
                         categories=list(coco_gt.dataset['categories']), annotations=[])
    empty.createIndex()
    return empty
