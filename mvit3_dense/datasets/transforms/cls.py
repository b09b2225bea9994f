"""Input transforms of the authors' cls evaluation path."""
import numpy as np
from mmcv.transforms import CenterCrop
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class FloorCenterCrop(CenterCrop):
    """mmcv's ``CenterCrop`` with the authors' offsets ``(H - h) // 2, (W - w) // 2``.

    mmcv rounds half the margin (Python's ``round``, half to even), so an odd margin can shift
    the crop one pixel from the authors' (a 431-pixel-wide image: mmcv starts at 88, the
    authors at 87). Authors: ml-cvnets d38a116 ``data/transforms/image.py:1044-1045`` (v1-based,
    OpenCV) and 84d992f ``data/transforms/image_pil.py:665-666`` (v2-based, PIL).

    An image smaller than the crop is left to mmcv's handling (``auto_pad`` or a smaller crop);
    the authors' evaluation never meets one (the short side is resized to crop + 32 first).
    """

    def transform(self, results: dict) -> dict:
        crop_w, crop_h = self.crop_size
        height, width = results['img'].shape[:2]
        if crop_h > height or crop_w > width:
            return super().transform(results)
        top = (height - crop_h) // 2
        left = (width - crop_w) // 2
        # mmcv's crop box: inclusive corners (x1, y1, x2, y2).
        box = np.array([left, top, left + crop_w - 1, top + crop_h - 1])
        self._crop_img(results, box)
        self._crop_seg_map(results, box)
        self._crop_bboxes(results, box)
        self._crop_keypoints(results, box)
        return results
