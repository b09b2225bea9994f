"""MobileViTv3 backbone (Wadekar & Chaurasia, arXiv 2209.15159), both published families, and the
MobileViTv1 and MobileViTv2 networks it is built on (same stage table, same block class)."""
import copy
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.registry import MODELS
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import (BLOCK_OPTIONS, BLOCK_PRESETS, InvertedResidual, MobileViTBlock,
                      make_divisible)
from .pretrained import load_pretrained_backbone

class Stage(NamedTuple):
    """One row of the stage table (paper Table 1; the authors' configs).

    ``mv2_blocks`` MobileNetV2 blocks, the first with ``stride``; then, when ``embed_dims`` is set,
    one MobileViT block with ``attn_layers`` transformer layers of width ``embed_dims``.
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
    """A stride-2 MobileNetV2 block followed by one MobileViT block."""
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

# MobileViTv1 itself (Apple ml-cvnets d38a116 cvnets/models/classification/config/mobilevit.py,
# modes xx_small / x_small / small); conv_1x1_exp is min(4 x C5, 960) wide (mobilevit.py:86-92),
# transformer dropout from the mode's yaml.
MOBILEVITV1_ARCHS = {
    'xxs': dict(stem=16, expand_ratio=2, exp_channels=320, drop_rate=0.05, stages=[
        mv2(16, 1, 1), mv2(24, 2, 3), mvit(48, 64, 128, 2), mvit(64, 80, 160, 4),
        mvit(80, 96, 192, 3)]),
    'xs': dict(stem=16, expand_ratio=4, exp_channels=384, drop_rate=0.1, stages=[
        mv2(32, 1, 1), mv2(48, 2, 3), mvit(64, 96, 192, 2), mvit(80, 120, 240, 4),
        mvit(96, 144, 288, 3)]),
    's': dict(stem=16, expand_ratio=4, exp_channels=640, drop_rate=0.1, stages=[
        mv2(32, 1, 1), mv2(64, 2, 3), mvit(96, 144, 288, 2), mvit(128, 192, 384, 4),
        mvit(160, 240, 480, 3)]),
}

# v2-based: MobileViTv2's table scaled by a width multiplier w (channels, attention width); the
# FFN width follows from the attention width (see v2_arch).
V2_BASE = dict(stem=32, expand_ratio=2, stages=[
    mv2(64, 1, 1), mv2(128, 2, 2), mvit(256, 128, None, 2), mvit(384, 192, None, 4),
    mvit(512, 256, None, 3)])
V2_WIDTHS = ('0.5', '0.75', '1.0')
# MobileViTv2 itself uses the same table (Apple ml-cvnets 84d992f
# cvnets/models/classification/config/mobilevit_v2.py); the widths it was published with.
MOBILEVITV2_WIDTHS = ('0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '2.0')
# Which block each named family builds, and the prefix of its arch names.
FAMILY_BLOCKS = {'v1': 'mobilevitv3-v1', 'v2': 'mobilevitv3-v2'}
V1_PREFIX, V2_PREFIX = 'mobilevitv1-', 'mobilevitv2-'


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
    """MobileViTv3 backbone, v1-based (S, XS, XXS, L2 forms) and v2-based (any width); also
    MobileViTv1 and MobileViTv2, the networks MobileViTv3 changes.

    Registered in mmengine's root registry, so ``type='MobileViTv3'`` builds from mmseg, mmdet
    and mmpretrain configs after ``custom_imports=dict(imports=['mvit3_dense'])``.

    Naming: a plain arch name is a MobileViTv3 model ('xxs', 's-l2', '0.5', 1.25, ...); the
    networks it is built on carry their own name as a prefix: 'mobilevitv1-xxs',
    'mobilevitv1-xs', 'mobilevitv1-s' (Apple's MobileViT modes xx_small, x_small, small) and
    'mobilevitv2-<width>' for MobileViTv2 at any positive width multiplier (published 0.5 ...
    2.0). All of them share one stage table layout and one block class,
    :class:`~mvit3_dense.models.layers.MobileViTBlock`; ``family`` ('v1' or 'v2') names the
    lineage that decides the attention kind, the dilation rule and the 1x1 expansion, and
    ``block_cfg`` holds the block's switches (the paper's four changes, see
    :data:`~mvit3_dense.models.layers.BLOCK_PRESETS`).

    Outputs are numbered like the authors' modules: 0 stem (``conv_1``, stride 2), 1-5
    ``layer_1``..``layer_5`` (strides 2, 4, 8, 16, 32), 6 the 1x1 expansion ``conv_1x1_exp``
    before pooling. Only v1-lineage models have that expansion (min(4 x C5, 960) channels); the
    v2 lineage has none, so index 6 does not exist there.

    Args:
        arch (str | float | dict): MobileViTv3 'xxs', 'xs', 's', 'xxs-l2', 'xs-l2', 's-l2'
            (v1-based), '0.5', '0.75', '1.0' or any positive width multiplier (v2-based);
            MobileViTv1 'mobilevitv1-xxs', 'mobilevitv1-xs', 'mobilevitv1-s'; MobileViTv2
            'mobilevitv2-<width>'; or a custom table ``dict(family='v1'|'v2', stem=...,
            expand_ratio=..., exp_channels=..., stages=[...], block=<preset name>)`` with rows
            as in ``V1_ARCHS`` (:class:`Stage` or its six fields in order); ``block`` defaults
            to the family's MobileViTv3 block.
        out_indices (Sequence[int]): Outputs to return. Defaults to (5,).
        output_stride (int): 32, 16 or 8. Below 32 the last one or two stages keep their
            resolution and are dilated as the authors do it (see ``_make_stage``).
        with_exp_conv (bool): Build the v1-lineage 1x1 expansion. Defaults to True, as in the
            classifiers; the authors' segmentation and detection models drop it.
        block_cfg (dict | None): Block switches that replace the arch's preset ones, any of
            ``depthwise_local``, ``fusion_kernel``, ``fuse_local``, ``input_residual`` (e.g.
            the paper's ablation: ``arch='mobilevitv1-s', block_cfg=dict(fusion_kernel=1)``).
            The attention kind follows the family and cannot be changed here.
        frozen_stages (int): -1 freezes nothing, 0 the stem, k the stem and layer1..layerk.
        norm_eval (bool): Keep norm layers in eval mode while training.
        drop_rate (float | None): Transformer dropout (v1 lineage); None uses the authors'
            ImageNet value of the variant.
        norm_cfg (dict): Norm layer of the convolutions. Defaults to BN.
        act_cfg (dict): Activation of the whole backbone. Defaults to Swish (SiLU).
        init_cfg (dict | list[dict]): mmengine init config, e.g. ``Pretrained``.
    """

    arch_zoo = {
        **{name: dict(family='v1', block='mobilevitv3-v1', **cfg)
           for name, cfg in V1_ARCHS.items()},
        **{w: dict(family='v2', block='mobilevitv3-v2', **v2_arch(w)) for w in V2_WIDTHS},
        **{V1_PREFIX + name: dict(family='v1', block='mobilevitv1', **cfg)
           for name, cfg in MOBILEVITV1_ARCHS.items()},
        **{V2_PREFIX + w: dict(family='v2', block='mobilevitv2', **v2_arch(w))
           for w in MOBILEVITV2_WIDTHS},
    }

    def __init__(self,
                 arch: Union[str, float, dict] = 's',
                 out_indices: Sequence[int] = (5, ),
                 output_stride: int = 32,
                 with_exp_conv: bool = True,
                 block_cfg: Optional[dict] = None,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 drop_rate: Optional[float] = None,
                 attn_drop_rate: float = 0.0,
                 ffn_drop_rate: float = 0.0,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='SiLU'),
                 init_cfg: Union[dict, List[dict], None] = [
                     dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
                     dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
                     dict(type='Constant', layer=['_BatchNorm', 'GroupNorm', 'LayerNorm'],
                          val=1.0, bias=0.0)
                 ]) -> None:
        super().__init__(init_cfg=init_cfg)
        self.arch = self.parse_arch(arch)
        self.family = self.arch['family']
        self.block_cfg = self._block_settings(self.arch, block_cfg)
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

    def init_weights(self) -> None:
        # A Pretrained checkpoint is checked against this variant before loading: mmengine's
        # own loader only warns about mismatched or missing tensors.
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            load_pretrained_backbone(self, cfg['checkpoint'], cfg.get('prefix'), self.arch_name)
            self._is_init = True
            return
        super().init_weights()

    @classmethod
    def parse_arch(cls, arch: Union[str, float, dict]) -> dict:
        if isinstance(arch, dict):
            missing = {'family', 'stem', 'expand_ratio', 'stages'} - set(arch)
            if missing:
                raise ValueError(f'custom arch is missing keys {sorted(missing)}')
            if arch['family'] not in ('v1', 'v2'):
                raise ValueError(f"custom arch family must be 'v1' or 'v2', got {arch['family']!r}")
            if len(arch['stages']) != 5:
                raise ValueError('custom arch needs exactly 5 stage rows')
            arch = copy.deepcopy(arch)
            arch.setdefault('block', FAMILY_BLOCKS[arch['family']])
            arch['stages'] = [Stage(*row) for row in arch['stages']]
            return arch
        key = str(arch).lower()
        if key in cls.arch_zoo:
            return copy.deepcopy(cls.arch_zoo[key])
        width, block = key, 'mobilevitv3-v2'
        if key.startswith(V2_PREFIX):
            width, block = key[len(V2_PREFIX):], 'mobilevitv2'
        try:
            return dict(family='v2', block=block, **v2_arch(float(width)))
        except ValueError:
            pass
        raise ValueError(
            f'unknown MobileViTv3 arch {arch!r}: choose one of {sorted(V1_ARCHS)} (MobileViTv3 '
            f'v1-based), a width multiplier such as {list(V2_WIDTHS)} (MobileViTv3 v2-based), '
            f'{[V1_PREFIX + m for m in MOBILEVITV1_ARCHS]} (MobileViTv1), '
            f"'{V2_PREFIX}<width>' such as '{V2_PREFIX}1.0' (MobileViTv2), or a custom stage "
            'table dict')

    @staticmethod
    def _block_settings(arch, block_cfg):
        """The block switches: the arch's preset, updated by ``block_cfg``."""
        preset = arch['block']
        if preset not in BLOCK_PRESETS:
            raise ValueError(f'unknown block preset {preset!r}: choose one of '
                             f'{sorted(BLOCK_PRESETS)}')
        settings = dict(BLOCK_PRESETS[preset])
        attention = BLOCK_PRESETS[FAMILY_BLOCKS[arch['family']]]['attention']
        if settings['attention'] != attention:
            fitting = [n for n, b in BLOCK_PRESETS.items() if b['attention'] == attention]
            raise ValueError(f"block preset {preset!r} does not fit family {arch['family']!r} "
                             f'({attention} attention): use one of {fitting}')
        block_cfg = dict(block_cfg or {})
        if 'attention' in block_cfg:
            raise ValueError("block_cfg cannot set 'attention': it follows the arch family "
                             "('v1': multi-head, 'v2': separable); choose another arch instead")
        unknown = sorted(set(block_cfg) - set(BLOCK_OPTIONS))
        if unknown:
            raise ValueError(f'unknown block_cfg keys {unknown}: valid keys are '
                             f'{[k for k in BLOCK_OPTIONS if k != "attention"]}')
        settings.update(block_cfg)
        return settings

    def _make_stage(self, in_channels, row, current_stride, dilation, common, drops):
        """One stage; returns it with the running stride and dilation after it.

        A stride-2 stage that would take the network past ``output_stride`` keeps its resolution
        instead: its MobileNetV2 block gets the dilation so far, and the running dilation doubles
        for what follows. In the v2 lineage the MobileViT block's local 3x3 conv gets the doubled
        dilation too (ml-cvnets 84d992f mobilevit_v2.py:178-226); the v1 lineage leaves that block
        undilated (d38a116 mobilevit.py:207-222 never passes a dilation).
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
            blocks.append(MobileViTBlock(
                out_channels, embed_dims, ffn_dims, num_layers, **self.block_cfg,
                dilation=dilation if self.family == 'v2' else 1, **drops, **common))
        return nn.Sequential(*blocks), current_stride, dilation

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        if self.training and self.family == 'v1':
            # NHWC convolution and batch-norm kernels: a v1-lineage training step ran up to
            # 1.3x faster on CPU (README, "Speed"). Not for the v2 lineage: its channels-last
            # gradients strayed from float64 where a map is resized to the patch grid. The
            # inference form stores its weights channels-last instead; eval graphs stay as is.
            x = x.contiguous(memory_format=torch.channels_last)
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

    def train(self, mode: bool = True) -> 'MobileViTv3':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
