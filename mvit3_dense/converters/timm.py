"""Key mapping of timm's MobileViT models (``mobilevit_xxs|xs|s``, ``mobilevitv2_050`` ...
``mobilevitv2_200``, timm/models/mobilevit.py) into :class:`MobileViTv3` MobileViTv1 / MobileViTv2.

timm builds the same networks as Apple's ml-cvnets with its own names: ``stem``, ``stages.0-4``
(our ``layer1-5``), MobileNetV2 blocks ``conv1_1x1`` / ``conv2_kxk`` / ``conv3_1x1``, MobileViT
blocks ``conv_kxk`` / ``conv_1x1`` / ``transformer.N`` / ``norm`` / ``conv_proj`` /
``conv_fusion``, ``final_conv`` (MobileViTv1's 1x1 expansion) and ``head.fc``. Every tensor keeps
its shape and value; the variant is decided from the shapes (:mod:`.variant`).
"""
from typing import Dict

from .base import (ConversionError, SourceTensors, StateDict, place_final_norms, rename_keys,
                   split_classifier)

__all__ = ['map_classifier']

# Applied in order to every key.
_COMMON_RULES = [
    (r'^stages\.(\d)\.', lambda m: f'layer{int(m.group(1)) + 1}.'),
    (r'^final_conv\.', 'conv_1x1_exp.'),
    (r'\.conv1_1x1\.', '.expand_conv.'),
    (r'\.conv2_kxk\.', '.depthwise_conv.'),
    (r'\.conv3_1x1\.', '.linear_conv.'),
    (r'\.conv_1x1\.weight$', '.local_rep.conv_pw.weight'),
    (r'\.transformer\.(\d+)\.', r'.global_rep.\1.'),
    (r'\.mlp\.', '.ffn.'),
    (r'\.conv_fusion\.', '.fusion.'),
]
_NETWORK_RULES = {
    # MobileViTv1: full 3x3 local conv; attention qkv / proj already named as ours.
    'mobilevitv1': [(r'\.conv_kxk\.', '.local_rep.conv_3x3.')],
    # MobileViTv2: depthwise local conv; separable attention with 1x1-conv projections.
    'mobilevitv2': [(r'\.conv_kxk\.', '.local_rep.conv_dw.'),
                    (r'\.attn\.qkv_proj\.', '.attn.qkv.'),
                    (r'\.attn\.out_proj\.', '.attn.proj.')],
}


def detect_network(state_dict: StateDict) -> str:
    """``'mobilevitv1'`` (multi-head attention, ``attn.qkv``) or ``'mobilevitv2'`` (separable
    attention, ``attn.qkv_proj``) from a timm MobileViT state dict; refuses anything else."""
    if 'stem.conv.weight' not in state_dict or not any(k.startswith('stages.4.')
                                                       for k in state_dict):
        sample = ', '.join(list(state_dict)[:3])
        raise ConversionError("not a timm MobileViT checkpoint: expected keys such as "
                              f"'stem.conv.weight' and 'stages.4.*', found e.g. {sample}")
    if any('.attn.qkv_proj.' in k for k in state_dict):
        return 'mobilevitv2'
    if any('.attn.qkv.' in k for k in state_dict):
        return 'mobilevitv1'
    raise ConversionError('timm checkpoint without MobileViT attention layers (attn.qkv or '
                          'attn.qkv_proj): not a mobilevit_* or mobilevitv2_* model')


def map_classifier(state_dict: StateDict) -> SourceTensors:
    """A timm ``mobilevit_*`` / ``mobilevitv2_*`` model (with or without its classifier) as
    backbone and ``head.fc`` tensors."""
    network = detect_network(state_dict)
    renamed: Dict = rename_keys(state_dict, _COMMON_RULES + _NETWORK_RULES[network])
    renamed = place_final_norms(renamed, 'norm')
    backbone, head = split_classifier(renamed, 'timm')
    family = 'v1' if network == 'mobilevitv1' else 'v2'
    return SourceTensors(family=family, backbone=backbone, head=head, network=network)
