"""The ImageNet classifier of the MobileViTv3 models, as an mmpretrain head."""
from typing import Optional, Tuple

from torch import Tensor, nn

from mmpretrain.models.heads import LinearClsHead
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MobileViTv3ClsHead(LinearClsHead):
    """Dropout, then one linear layer, on globally pooled features.

    Written because mmpretrain's ``LinearClsHead`` has no dropout, while the authors' v1-based
    recipe drops the pooled features with p = 0.1 (``classifier_dropout`` of their yamls). The layer
    keeps the name ``fc``, so checkpoints of either head load into the other.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of the pooled feature.
        dropout_rate (float): Dropout probability before ``fc``. Default: 0.
        init_cfg (dict, optional): Truncated normal (std 0.02) as the authors initialise
            linear layers.
        **kwargs: Other arguments of :class:`mmpretrain.models.heads.LinearClsHead` (``loss``,
            ``topk``, ``cal_acc``).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 dropout_rate: float = 0.,
                 init_cfg: Optional[dict] = dict(
                     type='TruncNormal', layer='Linear', std=0.02, bias=0.),
                 **kwargs) -> None:
        super().__init__(num_classes, in_channels, init_cfg=init_cfg, **kwargs)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()

    def pre_logits(self, feats: Tuple[Tensor, ...]) -> Tensor:
        """The last stage's pooled feature, dropped out (``fc`` follows in ``forward``)."""
        return self.dropout(feats[-1])
