"""Box decoding of the MobileViTv3 SSD detectors."""
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import BaseBoxes


@TASK_UTILS.register_module()
class SSDBoxCoder(DeltaXYWHBBoxCoder):
    """mmdet's delta coder without its clamp on the size deltas when decoding.

    mmdet bounds ``|dw|, |dh|`` by ``log(1000 / 16)`` before the exponential; the authors' SSD
    decodes ``w = w_a * exp(0.2 * dw)`` unbounded, so the clamp would make their very thin or
    very large boxes differ from theirs.
    """

    def decode(self,
               bboxes: Union[Tensor, BaseBoxes],
               pred_bboxes: Tensor,
               max_shape: Optional[Union[Sequence[int], Tensor, Sequence[Sequence[int]]]] = None,
               wh_ratio_clip: float = 1e-30) -> Union[Tensor, BaseBoxes]:
        # exp(|log(1e-30)|) ~ 1e30: no practical bound, and no log(0).
        return super().decode(bboxes, pred_bboxes, max_shape, wh_ratio_clip)


def decode_normalized(deltas: torch.Tensor, priors: torch.Tensor,
                      stds: Sequence[float]) -> torch.Tensor:
    """Corner boxes ``(x1, y1, x2, y2)`` in fractions of the input, computed as the authors do.

    The same operations in the same order as cvnets' ``convert_locations_to_boxes`` and
    ``center_form_to_corner_form`` (``cvnets/misc/box_utils.py``: d38a116 ``:16-39, 68-81``),
    on anchors in centre form ``(cx, cy, w, h)`` (:meth:`MobileViTv3SSDAnchorGenerator.
    single_level_normalized_priors`), so that their NMS sees the same numbers.

    Args:
        deltas (Tensor): ``(..., 4)`` regressions ``(dx, dy, dw, dh)``.
        priors (Tensor): ``(..., 4)`` anchors in centre form, fractions of the input.
        stds (Sequence[float]): The coder's ``target_stds``: centre variances, then size
            variances (the authors' 0.1, 0.1, 0.2, 0.2).
    """
    centre_var = deltas.new_tensor(stds[:2])
    size_var = deltas.new_tensor(stds[2:4])
    sizes = torch.exp(deltas[..., 2:] * size_var) * priors[..., 2:]
    centres = deltas[..., :2] * centre_var * priors[..., 2:] + priors[..., :2]
    return torch.cat([centres - sizes * 0.5, centres + sizes * 0.5], dim=-1)
