"""The DeepLabv3 head of the MobileViTv3 segmentation models, as an mmseg decode head."""
from typing import List

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn

from mmseg.models.decode_heads import ASPPHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS


@MODELS.register_module()
class MobileViTv3ASPPHead(ASPPHead):
    """DeepLabv3 head as the MobileViTv3 authors built it (cvnets ``deeplabv3`` seg head).

    The branches (1x1 conv, plain dilated 3x3 convs, image pooling; each conv + BN + ReLU) are
    those of :class:`mmseg.models.decode_heads.ASPPHead`. What differs, after the authors' code (see the
    reference ``heads.md`` and arXiv 2209.15159, Sec. 4.2):

    - The concatenated branches are projected by a **1x1** conv (+BN+ReLU), not mmseg's 3x3
      ``bottleneck``; with a 3x3 projection the head would have millions of parameters more than the
      published models.
    - The branches are concatenated in the authors' order (1x1, dilated 3x3s, image pool; mmseg puts
      the image pool first), so the authors' projection weights apply without permuting channels.
    - The projection is followed by its own dropout, whose flavour depends on the code base:
      element-wise ``nn.Dropout`` in the v1-based models, channel-wise ``nn.Dropout2d`` in the v2-based ones. The
      dropout before the classifier (``dropout_ratio``, ``nn.Dropout2d`` in mmseg) is 0.1 in the
      v1-based models and absent (0) in the v2-based ones.

    Args:
        aspp_dropout_ratio (float): Dropout probability after the projection. Default: 0.1.
        aspp_dropout_type (str): ``'element'`` (``nn.Dropout``, v1-based) or ``'channel'``
            (``nn.Dropout2d``, v2-based). Default: ``'element'``.
        **kwargs: Arguments of :class:`ASPPHead` (``dilations`` include 1 for the 1x1 branch).
    """

    _DROPOUTS = dict(element=nn.Dropout, channel=nn.Dropout2d)

    def __init__(self,
                 aspp_dropout_ratio: float = 0.1,
                 aspp_dropout_type: str = 'element',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if aspp_dropout_type not in self._DROPOUTS:
            raise ValueError(f'aspp_dropout_type must be one of {sorted(self._DROPOUTS)}, '
                             f'got {aspp_dropout_type!r}')
        self.bottleneck = ConvModule(
            (len(self.dilations) + 1) * self.channels,
            self.channels,
            1,
            conv_cfg=self.conv_cfg,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)
        self.aspp_dropout = self._DROPOUTS[aspp_dropout_type](aspp_dropout_ratio)

    def _forward_feature(self, inputs: List[Tensor]) -> Tensor:
        """The projected, dropped-out ASPP feature of the selected input map(s)."""
        x = self._transform_inputs(inputs)
        pooled = resize(self.image_pool(x), size=x.shape[2:], mode='bilinear',
                        align_corners=self.align_corners)
        feats = torch.cat([*self.aspp_modules(x), pooled], dim=1)
        return self.aspp_dropout(self.bottleneck(feats))
