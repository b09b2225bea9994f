"""MobileViTv3 backbone (Wadekar & Chaurasia, arXiv 2209.15159), both published families."""
import copy
from typing import NamedTuple, Optional, Union

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import InvertedResidual, MobileViTv3BlockV1, MobileViTv3BlockV2, make_divisible
from .pretrained import load_pretrained_backbone

class Stage(NamedTuple):
    """One row of the stage table (paper Table 1; the authors' configs).

    ``mv2_blocks`` MobileNetV2 blocks, the first with ``stride``; then, when ``embed_dims`` is set,
    one MobileViTv3 block with ``attn_layers`` transformer layers of width ``embed_dims``.
    """
    out_channels: int
    stride: int
    mv2_blocks: int
    embed_dims: Optional[int] = None
    ffn_dims: Optional[int] = None
    attn_layers: int = 0


def mv2(out_channels: int, stride: int, blocks: int) -> Stage:
    """A stage of MobileNetV2 blocks only."""
    return Stage(out_channels, stride, blocks)


def mvit(out_channels: int, embed_dims: int, ffn_dims: Optional[int], attn_layers: int) -> Stage:
    """A stride-2 MobileNetV2 block followed by one MobileViTv3 block."""
    return Stage(out_channels, 2, 1, embed_dims, ffn_dims, attn_layers)


# Figures from the paper's Table 1 / the authors' v1-based configs.
V1_ARCHS = {
    'xxs': dict(stem=16, expand_ratio=2, exp_channels=512, drop_rate=0.05, stages=[
        mv2(16, 1, 1), mv2(24, 2, 3), mvit(64, 64, 128, 2), mvit(80, 80, 160, 4),
        mvit(128, 96, 192, 3)]),
    'xs': dict(stem=16, expand_ratio=4, exp_channels=640, drop_rate=0.1, stages=[
        mv2(32, 1, 1), mv2(48, 2, 3), mvit(96, 96, 192, 2), mvit(160, 120, 240, 4),
        mvit(160, 144, 288, 3)]),
    's': dict(stem=16, expand_ratio=4, exp_channels=960, drop_rate=0.1, stages=[
        mv2(32, 1, 1), mv2(64, 2, 3), mvit(128, 144, 288, 2), mvit(256, 192, 384, 4),
        mvit(320, 240, 480, 3)]),
}
# The low-latency "L2" forms have two attention layers in layer4 instead of four (paper sec. 4.1).
for _name in ('xxs', 'xs', 's'):
    _l2 = copy.deepcopy(V1_ARCHS[_name])
    _l2['stages'][3] = _l2['stages'][3]._replace(attn_layers=2)
    V1_ARCHS[f'{_name}-l2'] = _l2

# v2-based: MobileViTv2's table scaled by a width multiplier w (channels, attention width); the
# FFN width follows from the attention width (see v2_arch).
V2_BASE = dict(stem=32, expand_ratio=2, stages=[
    mv2(64, 1, 1), mv2(128, 2, 2), mvit(256, 128, None, 2), mvit(384, 192, None, 4),
    mvit(512, 256, None, 3)])
V2_WIDTHS = ('0.5', '0.75', '1.0')


def v2_arch(widen_factor: Union[str, float]) -> dict:
    """The v2-based stage table for width multiplier ``widen_factor`` (MobileViTv2 rules)."""
    w = float(widen_factor)
    if w <= 0:
        raise ValueError(f'width multiplier must be positive, got {widen_factor}')
    stem = make_divisible(min(max(V2_BASE['stem'] * w, 16), 64), 8, min_value=16)
    stages = []
    for i, row in enumerate(V2_BASE['stages']):
        # layer1 rounds to 16, every other width to 8, as the authors' config does.
        out = make_divisible(row.out_channels * w, 16 if i == 0 else 8)
        embed = None if row.embed_dims is None else make_divisible(row.embed_dims * w, 8)
        ffn = None if embed is None else int(2 * embed // 16 * 16)
        stages.append(row._replace(out_channels=out, embed_dims=embed, ffn_dims=ffn))
    return dict(stem=stem, expand_ratio=V2_BASE['expand_ratio'], exp_channels=None,
                drop_rate=0.0, stages=stages)


@MODELS.register_module()
class MobileViTv3(BaseModule):
    """MobileViTv3 backbone, v1-based (S, XS, XXS, L2 forms) and v2-based (any width).

    Registered in mmengine's root registry, so ``type='MobileViTv3'`` builds from mmseg, mmdet
    and mmpretrain configs after ``custom_imports=dict(imports=['mvit3_dense'])``.

    Outputs are numbered like the authors' modules: 0 stem (``conv_1``, stride 2), 1-5
    ``layer_1``..``layer_5`` (strides 2, 4, 8, 16, 32), 6 the 1x1 expansion ``conv_1x1_exp``
    before pooling. Only v1-based models have that expansion (min(4 x C5, 960) channels); the
    v2-based family has none, so index 6 does not exist there.

    Args:
        arch (str | float | dict): 'xxs', 'xs', 's', 'xxs-l2', 'xs-l2', 's-l2' (v1-based);
            '0.5', '0.75', '1.0' or any positive width multiplier (v2-based); or a custom table
            ``dict(family='v1'|'v2', stem=..., expand_ratio=..., exp_channels=..., stages=[...])``
            with rows as in ``V1_ARCHS`` (:class:`Stage` or its six fields in order).
        out_indices (Sequence[int]): Outputs to return. Defaults to (5,).
        output_stride (int): 32, 16 or 8. Below 32 the last one or two stages keep their
            resolution and are dilated as the authors do it (see ``_make_stage``).
        with_exp_conv (bool): Build the v1-based 1x1 expansion. Defaults to True, as in the
            classifiers; the authors' segmentation and detection models drop it.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and layer1..layerk.
        norm_eval (bool): Keep norm layers in eval mode while training.
        drop_rate (float | None): Transformer dropout (v1-based); None uses the authors'
            ImageNet value of the variant.
        norm_cfg (dict): Norm layer of the convolutions. Defaults to BN.
        act_cfg (dict): Activation of the whole backbone. Defaults to Swish (SiLU).
        init_cfg (dict | list[dict]): mmengine init config, e.g. ``Pretrained``.
    """

    arch_zoo = {**{name: dict(family='v1', **cfg) for name, cfg in V1_ARCHS.items()},
                **{w: dict(family='v2', **v2_arch(w)) for w in V2_WIDTHS}}

    def __init__(self,
                 arch='s',
                 out_indices=(5,),
                 output_stride=32,
                 with_exp_conv=True,
                 frozen_stages=-1,
                 norm_eval=False,
                 drop_rate=None,
                 attn_drop_rate=0.0,
                 ffn_drop_rate=0.0,
                 norm_cfg=dict(type='BN'),
                 act_cfg=dict(type='SiLU'),
                 init_cfg=[
                     dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                     dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
                     dict(type='Constant', layer=['_BatchNorm', 'GroupNorm', 'LayerNorm'],
                          val=1.0, bias=0.0)
                 ]):
        super().__init__(init_cfg=init_cfg)
        self.arch = self.parse_arch(arch)
        self.family = self.arch['family']
        if output_stride not in (8, 16, 32):
            raise ValueError(f'output_stride must be 8, 16 or 32, got {output_stride!r}')
        num_outputs = 7 if self.family == 'v1' and with_exp_conv else 6
        out_indices = tuple(out_indices)
        bad = [i for i in out_indices if not 0 <= i < num_outputs]
        if bad or not out_indices:
            hint = ' (index 6, the 1x1 expansion, needs a v1-based arch and with_exp_conv=True)' \
                if 6 in bad else ''
            raise ValueError(f'out_indices {out_indices} out of range: valid indices are '
                             f'0..{num_outputs - 1}{hint}')
        if frozen_stages not in range(-1, 6):
            raise ValueError(f'frozen_stages must be in -1..5, got {frozen_stages!r}')
        self.out_indices = out_indices
        self.output_stride = output_stride
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        if drop_rate is None:
            drop_rate = self.arch.get('drop_rate', 0.0)
        common = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        drops = dict(drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                     ffn_drop_rate=ffn_drop_rate)

        self.stem = ConvModule(3, self.arch['stem'], 3, stride=2, padding=1, **common)
        channels = [self.arch['stem']]
        current_stride, dilation = 2, 1
        self.layer_names = []
        for i, row in enumerate(self.arch['stages'], start=1):
            stage, current_stride, dilation = self._make_stage(
                channels[-1], row, current_stride, dilation, common, drops)
            self.add_module(f'layer{i}', stage)
            self.layer_names.append(f'layer{i}')
            channels.append(row.out_channels)

        self.conv_1x1_exp = None
        if self.family == 'v1' and with_exp_conv:
            self.conv_1x1_exp = ConvModule(channels[-1], self.arch['exp_channels'], 1, **common)
            channels.append(self.arch['exp_channels'])
        self.all_channels = channels
        self.out_channels = [channels[i] for i in out_indices]
        self.arch_name = 'custom' if isinstance(arch, dict) else str(arch)
        self._freeze_stages()

    def init_weights(self):
        # A Pretrained checkpoint is checked against this variant before loading: mmengine's
        # own loader only warns about mismatched or missing tensors.
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            load_pretrained_backbone(self, cfg['checkpoint'], cfg.get('prefix'), self.arch_name)
            self._is_init = True
            return
        super().init_weights()

    @classmethod
    def parse_arch(cls, arch):
        if isinstance(arch, dict):
            missing = {'family', 'stem', 'expand_ratio', 'stages'} - set(arch)
            if missing:
                raise ValueError(f'custom arch is missing keys {sorted(missing)}')
            if arch['family'] not in ('v1', 'v2'):
                raise ValueError(f"custom arch family must be 'v1' or 'v2', got {arch['family']!r}")
            if len(arch['stages']) != 5:
                raise ValueError('custom arch needs exactly 5 stage rows')
            arch = copy.deepcopy(arch)
            arch['stages'] = [Stage(*row) for row in arch['stages']]
            return arch
        key = str(arch).lower()
        if key in cls.arch_zoo:
            return copy.deepcopy(cls.arch_zoo[key])
        try:
            return dict(family='v2', **v2_arch(float(key)))
        except ValueError:
            pass
        raise ValueError(f'unknown MobileViTv3 arch {arch!r}: choose one of '
                         f'{sorted(V1_ARCHS)} (v1-based), a width multiplier such as '
                         f"{list(V2_WIDTHS)} (v2-based), or a custom stage table dict")

    def _make_stage(self, in_channels, row, current_stride, dilation, common, drops):
        """One stage; returns it with the running stride and dilation after it.

        A stride-2 stage that would take the network past ``output_stride`` keeps its resolution
        instead: its MobileNetV2 block gets the dilation so far, and the running dilation doubles
        for what follows. In the v2-based family the MobileViTv3 block's depthwise conv gets the
        doubled dilation too; the authors' v1-based code leaves that block undilated.
        """
        out_channels, stride, num_blocks, embed_dims, ffn_dims, num_layers = row
        block_dilation = dilation
        if stride == 2 and current_stride * 2 > self.output_stride:
            stride, dilation = 1, dilation * 2
        else:
            current_stride *= stride
        blocks = []
        for j in range(num_blocks):
            blocks.append(InvertedResidual(
                in_channels if j == 0 else out_channels, out_channels,
                stride if j == 0 else 1, self.arch['expand_ratio'], dilation=block_dilation,
                **common))
        if embed_dims is not None:
            if self.family == 'v1':
                blocks.append(MobileViTv3BlockV1(out_channels, embed_dims, ffn_dims, num_layers,
                                                 **drops, **common))
            else:
                blocks.append(MobileViTv3BlockV2(out_channels, embed_dims, ffn_dims, num_layers,
                                                 dilation=dilation, **drops, **common))
        return nn.Sequential(*blocks), current_stride, dilation

    def forward(self, x):
        outs = []
        x = self.stem(x)
        if 0 in self.out_indices:
            outs.append(x)
        for i, name in enumerate(self.layer_names, start=1):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        if self.conv_1x1_exp is not None and 6 in self.out_indices:
            outs.append(self.conv_1x1_exp(x))
        return tuple(outs)

    def _freeze_stages(self):
        modules = [self.stem] + [getattr(self, n) for n in self.layer_names]
        for module in modules[:self.frozen_stages + 1]:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode=True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
