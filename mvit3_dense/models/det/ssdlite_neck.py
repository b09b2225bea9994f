"""The extra feature maps of the MobileViTv3 SSDLite detectors, as an mmdet neck."""
from typing import Sequence, Tuple

from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig


@MODELS.register_module()
class MobileViTv3SSDNeck(BaseModule):
    """Six SSD feature maps from the two last backbone stages, as in the authors' SSDLite.

    The two backbone maps (strides 16 and 32) are passed through unchanged. Then, chained from the
    stride-32 map, one separable stride-2 layer per entry of ``extra_channels`` (depthwise 3x3 + BN
    without activation, pointwise 1x1 + BN + ReLU) and finally a global average pool followed by a
    1x1 conv with ReLU, without BN or bias (reference ``heads.md``).

    mmdet's :class:`SSDNeck` differs: each of its extra levels starts with a 1x1 bottleneck, it can
    L2-normalise the first map and its last level is not a global pool.

    Args:
        in_channels (Sequence[int]): Channels of the backbone maps (strides 16 and 32).
        extra_channels (Sequence[int]): Output channels of the separable stride-2 layers.
            Default: (256, 128, 128).
        global_channels (int): Channels of the globally pooled map. Default: 64.
        norm_cfg (dict): Norm layer of the separable layers. Default: BN.
        act_cfg (dict): Activation of the pointwise convs and of the global map. Default: ReLU.
        init_cfg (dict | list[dict], optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 extra_channels: Sequence[int] = (256, 128, 128),
                 global_channels: int = 64,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.extra_layers = nn.ModuleList()
        channels = self.in_channels[-1]
        for out_channels in extra_channels:
            self.extra_layers.append(
                DepthwiseSeparableConvModule(
                    channels, out_channels, 3, stride=2, padding=1, norm_cfg=norm_cfg,
                    act_cfg=act_cfg, dw_act_cfg=None))
            channels = out_channels
        self.global_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            ConvModule(channels, global_channels, 1, bias=False, norm_cfg=None, act_cfg=act_cfg))
        self.out_channels = self.in_channels + list(extra_channels) + [global_channels]

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Backbone maps (strides 16, 32) -> the six maps the SSD head predicts from."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{len(self.in_channels)} backbone maps expected (out_indices), '
                             f'got {len(inputs)}')
        outs = list(inputs)
        x = outs[-1]
        for layer in self.extra_layers:
            x = layer(x)
            outs.append(x)
        outs.append(self.global_layer(x))
        return tuple(outs)
