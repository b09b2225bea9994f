"""Key mapping of the MobileViTv3 authors' (CVNets) classifiers into :class:`MobileViTv3`.

The authors' module tree names a conv+norm(+act) unit ``<name>.block.{conv,norm}``; ours is an
mmcv ``ConvModule`` (``<name>.{conv,bn}``). The rules below rename one naming scheme into the
other; every tensor keeps its shape and values. The variant is decided later, from the shapes
(:mod:`.variant`).
"""
from typing import Dict

from .base import ConversionError, SourceTensors, StateDict, rename_keys

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
        (r'\.local_rep\.conv_3x3\.', '.local_rep.conv_dw.'),
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
        # The v2-based block has no separate projection: the authors' conv_proj is the fusion.
        (r'\.conv_proj\.', '.fusion.'),
        (r'^classifier\.1\.', 'head.fc.'),
    ],
}
_CLASSIFIER_KEYS = {'head.fc.weight', 'head.fc.bias'}


def detect_family(state_dict: StateDict) -> str:
    """``'v1'`` or ``'v2'`` from the authors' attention layers; refuses anything else."""
    if not any(k.startswith('conv_1.') for k in state_dict) or not any(
            k.startswith('layer_5.') for k in state_dict):
        sample = ', '.join(list(state_dict)[:3])
        raise ConversionError(
            "not a MobileViTv3 checkpoint of the authors' code: expected keys such as "
            f"'conv_1.block.conv.weight' and 'layer_5.*', found e.g. {sample}")
    if any('.pre_norm_attn.' in k for k in state_dict):
        return 'v2'
    if any('.pre_norm_mha.' in k for k in state_dict):
        return 'v1'
    raise ConversionError('checkpoint has neither multi-head (v1-based) nor separable (v2-based) '
                          'attention layers: it is not a MobileViTv3 checkpoint')


def map_classifier(state_dict: StateDict) -> SourceTensors:
    """The authors' ImageNet classifier (or bare encoder) as backbone and ``head.fc`` tensors."""
    family = detect_family(state_dict)
    renamed: Dict = rename_keys(state_dict, _COMMON_RULES + _FAMILY_RULES[family])
    head = {k: v for k, v in renamed.items() if k.startswith('head.')}
    if head and set(head) != _CLASSIFIER_KEYS:
        raise ConversionError(f'unexpected classifier tensors {sorted(head)}: expected the '
                              "authors' linear classifier (weight and bias)")
    backbone = {k: v for k, v in renamed.items() if not k.startswith('head.')}
    return SourceTensors(family=family, backbone=backbone, head=head)
