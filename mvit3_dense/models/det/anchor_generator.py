"""The SSD anchors of the MobileViTv3 detectors, as an mmdet prior generator."""
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from mmdet.registry import TASK_UTILS

DeviceType = Union[str, torch.device]


@TASK_UTILS.register_module()
class MobileViTv3SSDAnchorGenerator:
    """SSD anchors defined as the authors' cvnets ``SSDAnchorGenerator`` defines them.

    mmdet's :class:`SSDAnchorGenerator` places anchors at integer pixel strides and sizes them from
    ``basesize_ratio_range`` in whole pixels. The authors' anchors are fractions of the image
    instead (reference ``heads.md``; arXiv 2209.15159, Sec. 4.3):

    - scales ``linspace(scale_range[0], scale_range[1], num_levels + 1)``; level ``i`` has
      ``s_min = scale_i`` and ``s_max = sqrt(scale_i * scale_{i+1})``;
    - per location, as (width, height) fractions of the image: ``(s_min, s_min)``,
      ``(s_max, s_max)``, then for each ratio ``r``: ``(s_min * sqrt(r), s_min / sqrt(r))`` and
      its transpose;
    - centres at ``((x + 0.5) / W_map, (y + 0.5) / H_map)``, so the 3x3 map of a 320 px input has a
      non-integer step of 320 / 3 px that integer strides cannot express;
    - every coordinate of the centre form ``(cx, cy, w, h)`` is clipped to [0, 1] before the boxes
      are scaled to the input size in pixels.

    The order matches the authors' flattened outputs: level, then location row-major (y, then x),
    then the anchors of a location in the order above, so their predictor channels need no
    permutation.

    Args:
        ratios (Sequence[Sequence[float]]): Aspect ratios per level. Default: ``[2, 3]`` on five
            levels and ``[2]`` on the last (6, 6, 6, 6, 6 and 4 anchors per location).
        scale_range (tuple[float, float]): First and last scale. Default: (0.1, 1.05).
        input_size (tuple[int, int]): (height, width) of the network input used when
            :meth:`grid_priors` is not told the input size. Default: (320, 320).
        clip (bool): Clip the centre form to [0, 1] as the authors. Default: True.
    """

    use_box_type = False

    def __init__(self,
                 ratios: Sequence[Sequence[float]] = ([2, 3], ) * 5 + ([2], ),
                 scale_range: Tuple[float, float] = (0.1, 1.05),
                 input_size: Tuple[int, int] = (320, 320),
                 clip: bool = True) -> None:
        if len(ratios) < 1:
            raise ValueError('ratios needs one list of aspect ratios per feature level')
        self.ratios = [list(r) for r in ratios]
        self.scale_range = tuple(scale_range)
        self.input_size = tuple(input_size)
        self.clip = clip
        scales = torch.linspace(scale_range[0], scale_range[1], self.num_levels + 1,
                                dtype=torch.float64)
        self.min_sizes = scales[:-1].tolist()
        self.max_sizes = (scales[:-1] * scales[1:]).sqrt().tolist()
        self.base_sizes = [self._base_sizes(i) for i in range(self.num_levels)]

    @property
    def num_levels(self) -> int:
        """int: number of feature maps the anchors are laid on."""
        return len(self.ratios)

    @property
    def num_base_priors(self) -> List[int]:
        """list[int]: anchors per location on each level."""
        return [len(sizes) for sizes in self.base_sizes]

    num_base_anchors = num_base_priors

    def _base_sizes(self, level: int) -> List[Tuple[float, float]]:
        """(w, h) fractions of the anchors of one location, in the authors' order."""
        s_min, s_max = self.min_sizes[level], self.max_sizes[level]
        sizes = [(s_min, s_min), (s_max, s_max)]
        for ratio in self.ratios[level]:
            root = math.sqrt(ratio)
            sizes += [(s_min * root, s_min / root), (s_min / root, s_min * root)]
        return sizes

    def single_level_normalized_priors(self,
                                       featmap_size: Tuple[int, int],
                                       level_idx: int,
                                       dtype: torch.dtype = torch.float32,
                                       device: DeviceType = 'cpu') -> Tensor:
        """Anchors of one level as the authors return them: (cx, cy, w, h) fractions, clipped.

        Returns:
            Tensor: ``(H * W * num_base_priors[level_idx], 4)``.
        """
        feat_h, feat_w = (int(s) for s in featmap_size)
        cy = (torch.arange(feat_h, dtype=torch.float64, device=device) + 0.5) / feat_h
        cx = (torch.arange(feat_w, dtype=torch.float64, device=device) + 0.5) / feat_w
        cy, cx = torch.meshgrid(cy, cx, indexing='ij')
        sizes = torch.tensor(self.base_sizes[level_idx], dtype=torch.float64, device=device)
        centres = torch.stack([cx, cy], -1).reshape(-1, 1, 2).expand(-1, len(sizes), 2)
        priors = torch.cat([centres, sizes[None].expand(len(centres), -1, 2)], -1).reshape(-1, 4)
        if self.clip:
            priors = priors.clamp(0., 1.)
        return priors.to(dtype)

    def single_level_grid_priors(self,
                                 featmap_size: Tuple[int, int],
                                 level_idx: int,
                                 dtype: torch.dtype = torch.float32,
                                 device: DeviceType = 'cuda',
                                 input_size: Optional[Tuple[int, int]] = None) -> Tensor:
        """Anchors of one level in pixels of the input, (x1, y1, x2, y2), in the authors' order."""
        height, width = input_size or self.input_size
        cx, cy, w, h = self.single_level_normalized_priors(
            featmap_size, level_idx, torch.float64, device).unbind(-1)
        boxes = torch.stack([(cx - w / 2) * width, (cy - h / 2) * height,
                             (cx + w / 2) * width, (cy + h / 2) * height], -1)
        return boxes.to(dtype)

    def grid_priors(self,
                    featmap_sizes: List[Tuple[int, int]],
                    dtype: torch.dtype = torch.float32,
                    device: DeviceType = 'cuda',
                    input_size: Optional[Tuple[int, int]] = None) -> List[Tensor]:
        """Anchors of every level in pixels, as mmdet's prior generators return them.

        Args:
            featmap_sizes (list[tuple[int, int]]): (H, W) of each level's map.
            dtype (torch.dtype): Type of the anchors.
            device (str | torch.device): Where to put them.
            input_size (tuple[int, int], optional): (height, width) of the network input (the
                batch's padded shape); ``self.input_size`` when not given.

        Returns:
            list[Tensor]: per level, ``(H * W * num_base_priors, 4)``.
        """
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'{self.num_levels} feature maps expected, got {len(featmap_sizes)}')
        return [
            self.single_level_grid_priors(size, i, dtype, device, input_size)
            for i, size in enumerate(featmap_sizes)
        ]

    def valid_flags(self,
                    featmap_sizes: List[Tuple[int, int]],
                    pad_shape: Tuple[int, ...],
                    device: DeviceType = 'cuda') -> List[Tensor]:
        """All anchors are valid: the authors match and score every anchor of every level."""
        return [
            torch.ones(int(h) * int(w) * n, dtype=torch.bool, device=device)
            for (h, w), n in zip(featmap_sizes, self.num_base_priors)
        ]

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ratios={self.ratios}, scale_range={self.scale_range}, '
                f'input_size={self.input_size}, clip={self.clip})')
