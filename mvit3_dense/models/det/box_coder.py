from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.registry import TASK_UTILS


@TASK_UTILS.register_module()
class SSDBoxCoder(DeltaXYWHBBoxCoder):
    """mmdet's delta coder without its clamp on the size deltas when decoding.

    mmdet bounds ``|dw|, |dh|`` by ``log(1000 / 16)`` before the exponential; the authors' SSD
    decodes ``w = w_a * exp(0.2 * dw)`` unbounded, so the clamp would make their very thin or
    very large boxes differ from theirs.
    """

    def decode(self, bboxes, pred_bboxes, max_shape=None, wh_ratio_clip=1e-30):
        # exp(|log(1e-30)|) ~ 1e30: no practical bound, and no log(0).
        return super().decode(bboxes, pred_bboxes, max_shape, wh_ratio_clip)
