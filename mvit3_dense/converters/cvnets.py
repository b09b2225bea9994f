"""Key mapping of ml-cvnets classifiers into :class:`MobileViTv3`: Apple's MobileViTv1 and
MobileViTv2 and the MobileViTv3 authors' models, which share one naming scheme.

The ml-cvnets module tree names a conv+norm(+act) unit ``<name>.block.{conv,norm}``; ours is an
mmcv ``ConvModule`` (``<name>.{conv,bn}``). The rules below rename one naming scheme into the
other; every tensor keeps its shape and values. Which network a checkpoint holds follows from
the shapes of its MobileViT blocks (:func:`detect_network`); the variant is decided later, from
all the shapes (:mod:`.variant`).
"""
import re
from typing import Dict, List, Tuple

from .base import ConversionError, Rule, SourceTensors, StateDict, rename_keys

# Applied in order to every source key.
_COMMON_RULES = [
    (r'\.block\.conv\.', '.conv.'),
    (r'\.block\.norm\.', '.bn.'),
    (r'^conv_1\.block\.', 'stem.'),
    (r'^conv_1\.', 'stem.'),
    (r'^layer_(\d)\.', r'layer\1.'),
    (r'^conv_1x1_exp\.block\.', 'conv_1x1_exp.'),
    (r'\.block\.exp_1x1\.', '.expand_conv.'),
    (r'\.block\.conv_3x3\.', '.depthwise_conv.'),
    (r'\.block\.red_1x1\.', '.linear_conv.'),
]
_FAMILY_RULES = {
    'v1': [
        (r'\.local_rep\.conv_1x1\.conv\.', '.local_rep.conv_pw.'),
        (r'\.pre_norm_mha\.0\.', '.norm1.'),
        (r'\.pre_norm_mha\.1\.qkv_proj\.', '.attn.qkv.'),
        (r'\.pre_norm_mha\.1\.out_proj\.', '.attn.proj.'),
        (r'\.pre_norm_ffn\.0\.', '.norm2.'),
        (r'\.pre_norm_ffn\.1\.', '.ffn.fc1.'),
        (r'\.pre_norm_ffn\.4\.', '.ffn.fc2.'),
        (r'^classifier\.fc\.', 'head.fc.'),
    ],
    'v2': [
        (r'\.local_rep\.0\.', '.local_rep.conv_dw.'),
        (r'\.local_rep\.1\.conv\.', '.local_rep.conv_pw.'),
        (r'\.pre_norm_attn\.0\.', '.norm1.'),
        (r'\.pre_norm_attn\.1\.qkv_proj\.conv\.', '.attn.qkv.'),
        (r'\.pre_norm_attn\.1\.out_proj\.conv\.', '.attn.proj.'),
        (r'\.pre_norm_ffn\.0\.', '.norm2.'),
        (r'\.pre_norm_ffn\.1\.conv\.', '.ffn.fc1.'),
        (r'\.pre_norm_ffn\.3\.conv\.', '.ffn.fc2.'),
        (r'^classifier\.1\.', 'head.fc.'),
    ],
}
# What each network's block adds (applied after the family's rules): MobileViTv1's local 3x3
# conv is a full conv (ours keeps its name, ``conv_3x3``); MobileViTv3's is depthwise, and its
# v2-based block has no separate projection: the authors' conv_proj is the fusion.
_NETWORK_RULES: Dict[Tuple[str, str], List[Rule]] = {
    ('v1', 'mobilevitv1'): [],
    ('v1', 'mobilevitv3'): [(r'\.local_rep\.conv_3x3\.', '.local_rep.conv_dw.')],
    ('v2', 'mobilevitv2'): [],
    ('v2', 'mobilevitv3'): [(r'\.conv_proj\.', '.fusion.')],
}
_CLASSIFIER_KEYS = {'head.fc.weight', 'head.fc.bias'}


def detect_family(state_dict: StateDict) -> str:
    """``'v1'`` or ``'v2'`` from the attention layers; refuses anything else."""
    if not any(k.startswith('conv_1.') for k in state_dict) or not any(
            k.startswith('layer_5.') for k in state_dict):
        sample = ', '.join(list(state_dict)[:3])
        raise ConversionError(
            "not an ml-cvnets MobileViT checkpoint: expected keys such as "
            f"'conv_1.block.conv.weight' and 'layer_5.*', found e.g. {sample}")
    if any('.pre_norm_attn.' in k for k in state_dict):
        return 'v2'
    if any('.pre_norm_mha.' in k for k in state_dict):
        return 'v1'
    raise ConversionError('checkpoint has neither multi-head (MobileViTv1 lineage) nor separable '
                          '(MobileViTv2 lineage) attention layers: it is no MobileViT checkpoint')


class _Incomplete(Exception):
    """A block lacks a tensor its network is recognised by."""


def _shape(state_dict: StateDict, key: str) -> Tuple[int, ...]:
    value = state_dict.get(key)
    if value is None:
        raise _Incomplete(key)
    return tuple(value.shape)


def _block_network(state_dict: StateDict, prefix: str, family: str) -> str:
    """The network one ml-cvnets MobileViT block (keys under ``prefix``) belongs to."""
    if family == 'v1':
        # MobileViTv1: full 3x3 local conv, 3x3 fusion over cat[input, global] (2C channels)
        # (Apple ml-cvnets d38a116 cvnets/modules/mobilevit_block.py:32-50); MobileViTv3:
        # depthwise local conv, 1x1 fusion over cat[local (d), global (C)].
        local = _shape(state_dict, f'{prefix}.local_rep.conv_3x3.block.conv.weight')
        embed = _shape(state_dict, f'{prefix}.local_rep.conv_1x1.block.conv.weight')[0]
        fusion = _shape(state_dict, f'{prefix}.fusion.block.conv.weight')
        channels = local[0]
        described = (f'local 3x3 conv {"depthwise" if local[1] == 1 else "full"}, fusion '
                     f'{fusion[2]}x{fusion[3]} over {fusion[1]} channels (C={channels}, '
                     f'd={embed})')
        if local[1] == channels and fusion[1:] == (2 * channels, 3, 3):
            return 'mobilevitv1'
        if local[1] == 1 and fusion[1:] == (embed + channels, 1, 1):
            return 'mobilevitv3'
        expected = ('MobileViTv1 (full local 3x3 conv, 3x3 fusion over 2C) or MobileViTv3 '
                    '(depthwise local conv, 1x1 fusion over d+C)')
    else:
        # MobileViTv2: conv_proj d -> C and no fusion (84d992f mobilevit_block.py:438-446);
        # MobileViTv3's conv_proj is its fusion, over cat[global, local] (2d channels).
        embed = _shape(state_dict, f'{prefix}.local_rep.1.block.conv.weight')[0]
        proj = _shape(state_dict, f'{prefix}.conv_proj.block.conv.weight')
        has_fusion = any(k.startswith(f'{prefix}.fusion.') for k in state_dict)
        described = (f'conv_proj {proj[2]}x{proj[3]} over {proj[1]} channels (d={embed})'
                     f'{", and a fusion conv" if has_fusion else ""}')
        if not has_fusion and proj[1:] == (embed, 1, 1):
            return 'mobilevitv2'
        if not has_fusion and proj[1:] == (2 * embed, 1, 1):
            return 'mobilevitv3'
        expected = ('MobileViTv2 (conv_proj over d, no fusion) or MobileViTv3 (conv_proj over '
                    '2d, no fusion)')
    raise ConversionError(f'the MobileViT block {prefix} belongs to no known network: '
                          f'{described}; expected {expected}')


def detect_network(state_dict: StateDict, family: str) -> str:
    """``'mobilevitv1'``, ``'mobilevitv2'`` or ``'mobilevitv3'`` from the shapes of every
    MobileViT block of an ml-cvnets encoder; refused when a block fits none or blocks differ."""
    prefixes = sorted({m.group(0)[:-len('.local_rep.')] for k in state_dict
                       for m in [re.match(r'^layer_\d\.\d+\.local_rep\.', k)] if m})
    if not prefixes:
        raise ConversionError('checkpoint has no MobileViT block (no layer_N.M.local_rep.* '
                              'tensors): it is no MobileViT checkpoint')
    found, incomplete = {}, []
    for prefix in prefixes:
        try:
            found[prefix] = _block_network(state_dict, prefix, family)
        except _Incomplete as missing:
            # A damaged block: the variant check reports the missing tensor.
            incomplete.append(str(missing))
    if not found:
        raise ConversionError(f'no MobileViT block is complete (missing e.g. {incomplete[0]}): '
                              'the checkpoint is damaged')
    networks = sorted(set(found.values()))
    if len(networks) > 1:
        raise ConversionError(f'the MobileViT blocks belong to different networks ({found}): '
                              'the checkpoint mixes blocks of no known network')
    return networks[0]


def map_classifier(state_dict: StateDict) -> SourceTensors:
    """An ml-cvnets ImageNet classifier (or bare encoder) of MobileViTv1, MobileViTv2 or
    MobileViTv3 as backbone and ``head.fc`` tensors."""
    family = detect_family(state_dict)
    network = detect_network(state_dict, family)
    renamed: Dict = rename_keys(
        state_dict, _COMMON_RULES + _FAMILY_RULES[family] + _NETWORK_RULES[family, network])
    head = {k: v for k, v in renamed.items() if k.startswith('head.')}
    if head and set(head) != _CLASSIFIER_KEYS:
        raise ConversionError(f'unexpected classifier tensors {sorted(head)}: expected the '
                              "authors' linear classifier (weight and bias)")
    backbone = {k: v for k, v in renamed.items() if not k.startswith('head.')}
    return SourceTensors(family=family, backbone=backbone, head=head, network=network)
