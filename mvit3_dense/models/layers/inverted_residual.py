import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from .utils import make_divisible


class InvertedResidual(BaseModule):
    """MobileNetV2 inverted residual block, as every MobileViTv3 stage uses it.

    1x1 expansion (+norm+act), depthwise 3x3 (+norm+act), 1x1 linear reduction (+norm). The
    hidden width is ``in_channels * expand_ratio`` rounded to a multiple of 8, as in the authors'
    code. The residual is kept only when the block changes neither resolution nor width.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise convolution.
        expand_ratio (float): Width of the hidden layer relative to ``in_channels``.
        dilation (int): Dilation of the depthwise convolution (dense prediction, see
            :class:`MobileViTv3` ``output_stride``).
        norm_cfg (dict): Normalization layer config.
        act_cfg (dict): Activation layer config.
    """

    def __init__(self,
                 in_channels,
                 out_channels,
                 stride,
                 expand_ratio,
                 dilation=1,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='SiLU'),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        hidden = make_divisible(int(round(in_channels * expand_ratio)), 8)
        self.use_residual = stride == 1 and in_channels == out_channels
        common = dict(norm_cfg=norm_cfg)
        self.expand_conv = None
        if expand_ratio != 1:
            self.expand_conv = ConvModule(in_channels, hidden, 1, act_cfg=act_cfg, **common)
        self.depthwise_conv = ConvModule(
            hidden, hidden, 3, stride=stride, padding=dilation, dilation=dilation, groups=hidden,
            act_cfg=act_cfg, **common)
        self.linear_conv = ConvModule(hidden, out_channels, 1, act_cfg=None, **common)

    def forward(self, x):
        out = x if self.expand_conv is None else self.expand_conv(x)
        out = self.linear_conv(self.depthwise_conv(out))
        return x + out if self.use_residual else out
