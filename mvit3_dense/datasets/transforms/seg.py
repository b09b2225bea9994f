"""Input transforms of the authors' seg evaluation path."""
from typing import Optional

from mmcv.transforms import Resize
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ShortSideResize(Resize):
    """Resize the shorter side to ``short_side``, the longer one truncated by ``int()``.

    Differs from mmcv's ``Resize(keep_ratio=True)`` / mmseg's ``ResizeShortestEdge``, which round
    the long side (500x375 -> 683x512 there, 682x512 here), as the authors' v2-based evaluation
    (ml-cvnets 84d992f ``data/transforms/image_pil.py:105,109``, called from
    ``data/datasets/segmentation/ade20k.py:122-129`` and ``pascal_voc.py:205-212``). Their default
    there is PIL bicubic, which ``backend='pillow', interpolation='bicubic'`` reproduces exactly.
    A segmentation map present in ``results`` is resized too (nearest), as mmcv's ``Resize``.

    Args:
        short_side (int): Length of the shorter side after resizing.
        interpolation (str): mmcv interpolation name. Default: ``'bicubic'``.
        backend (str): ``'pillow'`` or ``'cv2'``. Default: ``'pillow'``.
    """

    def __init__(self, short_side: int, interpolation: str = 'bicubic',
                 backend: str = 'pillow') -> None:
        if not isinstance(short_side, int) or short_side <= 0:
            raise ValueError(f'short_side must be a positive int, got {short_side!r}')
        super().__init__(scale=short_side, keep_ratio=False, interpolation=interpolation,
                         backend=backend)
        self.short_side = short_side

    def target_size(self, height: int, width: int) -> tuple:
        """``(width, height)`` after resizing an image of ``height`` x ``width``."""
        side = self.short_side
        if width < height:
            return side, int(side * height / width)
        return int(side * width / height), side

    def transform(self, results: dict) -> Optional[dict]:
        height, width = results['img'].shape[:2]
        results['scale'] = self.target_size(height, width)
        self._resize_img(results)
        self._resize_bboxes(results)
        self._resize_seg(results)
        self._resize_keypoints(results)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(short_side={self.short_side}, '
                f'interpolation={self.interpolation}, backend={self.backend})')
