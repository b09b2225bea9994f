"""Key mapping of Hugging Face transformers' MobileViT models (``MobileViTModel`` /
``MobileViTForImageClassification``, ``MobileViTV2Model`` / ``MobileViTV2ForImageClassification``)
into :class:`MobileViTv3` MobileViTv1 / MobileViTv2.

transformers names the same networks ``mobilevit.`` / ``mobilevitv2.`` + ``conv_stem``,
``encoder.layer.0-4`` (our ``layer1-5``; a MobileViT stage holds ``downsampling_layer`` and the
block's tensors directly), ``expand_1x1`` / ``conv_3x3`` / ``reduce_1x1``, ``conv_kxk`` /
``conv_1x1`` / ``transformer.layer.N`` / ``layernorm`` / ``conv_projection`` / ``fusion``,
``conv_1x1_exp`` and ``classifier``; each conv unit is ``convolution`` + ``normalization``.
MobileViTv1's attention keeps separate query / key / value projections, concatenated here into
our one ``qkv`` projection ([q | k | v] rows, as ml-cvnets' ``qkv_proj``). The variant is
decided from the shapes (:mod:`.variant`).
"""
import re
from typing import Dict

import torch

from .base import (ConversionError, SourceTensors, StateDict, place_final_norms, rename_keys,
                   split_classifier)

__all__ = ['map_classifier']

_PREFIXES = {'mobilevit.': 'mobilevitv1', 'mobilevitv2.': 'mobilevitv2'}

# Applied in order to every key, once the model prefix is removed.
_COMMON_RULES = [
    (r'^classifier\.', 'head.fc.'),
    (r'^conv_stem\.', 'stem.'),
    (r'\.convolution\.', '.conv.'),
    (r'\.normalization\.', '.bn.'),
    (r'^encoder\.layer\.(\d)\.layer\.(\d+)\.',
     lambda m: f'layer{int(m.group(1)) + 1}.{m.group(2)}.'),
    (r'^encoder\.layer\.(\d)\.downsampling_layer\.', lambda m: f'layer{int(m.group(1)) + 1}.0.'),
    (r'^encoder\.layer\.(\d)\.', lambda m: f'layer{int(m.group(1)) + 1}.1.'),
    (r'\.expand_1x1\.', '.expand_conv.'),
    (r'\.conv_3x3\.', '.depthwise_conv.'),
    (r'\.reduce_1x1\.', '.linear_conv.'),
    (r'\.conv_1x1\.conv\.', '.local_rep.conv_pw.'),
    (r'\.transformer\.layer\.(\d+)\.', r'.global_rep.\1.'),
    (r'\.layernorm_before\.', '.norm1.'),
    (r'\.layernorm_after\.', '.norm2.'),
    (r'\.conv_projection\.', '.conv_proj.'),
]
_NETWORK_RULES = {
    'mobilevitv1': [
        (r'\.conv_kxk\.', '.local_rep.conv_3x3.'),
        (r'\.attention\.attention\.(query|key|value)\.', lambda m: f'.attn.{m.group(1)[0]}.'),
        (r'\.attention\.output\.dense\.', '.attn.proj.'),
        (r'\.intermediate\.dense\.', '.ffn.fc1.'),
        (r'\.output\.dense\.', '.ffn.fc2.'),
    ],
    'mobilevitv2': [
        (r'\.conv_kxk\.', '.local_rep.conv_dw.'),
        (r'\.attention\.qkv_proj\.conv\.', '.attn.qkv.'),
        (r'\.attention\.out_proj\.conv\.', '.attn.proj.'),
        (r'\.ffn\.conv1\.conv\.', '.ffn.fc1.'),
        (r'\.ffn\.conv2\.conv\.', '.ffn.fc2.'),
    ],
}


def detect_network(state_dict: StateDict) -> str:
    """``'mobilevitv1'`` or ``'mobilevitv2'`` from the model prefix (``mobilevit.`` /
    ``mobilevitv2.``) or, for a bare ``MobileViTModel`` / ``MobileViTV2Model``, from the
    attention layers; refuses anything else."""
    prefixes = {p for p in _PREFIXES for k in state_dict if k.startswith(p)}
    if len(prefixes) == 1:
        return _PREFIXES[prefixes.pop()]
    if not prefixes and any(k.startswith('conv_stem.') for k in state_dict):
        if any('.attention.qkv_proj.' in k for k in state_dict):
            return 'mobilevitv2'
        if any('.attention.attention.query.' in k for k in state_dict):
            return 'mobilevitv1'
    sample = ', '.join(list(state_dict)[:3])
    raise ConversionError(
        "not a Hugging Face MobileViT / MobileViTV2 checkpoint: expected keys such as "
        "'mobilevit.conv_stem.convolution.weight' (MobileViTForImageClassification), "
        "'mobilevitv2.conv_stem...' (MobileViTV2ForImageClassification) or 'conv_stem...' "
        f'(the bare model), found e.g. {sample}')


def _merge_qkv(tensors: StateDict) -> StateDict:
    """Each attention's ``attn.{q,k,v}.*`` concatenated into ``attn.qkv.*``."""
    merged = {}
    for key, value in tensors.items():
        match = re.match(r'^(.*\.attn)\.([qkv])\.(weight|bias)$', key)
        if match is None:
            merged[key] = value
        elif match.group(2) == 'q':
            base, param = match.group(1), match.group(3)
            parts = [tensors.get(f'{base}.{p}.{param}') for p in 'qkv']
            if any(part is None for part in parts):
                raise ConversionError(f'attention {base} lacks a query, key or value {param}')
            merged[f'{base}.qkv.{param}'] = torch.cat(parts)
    return merged


def map_classifier(state_dict: StateDict) -> SourceTensors:
    """A transformers MobileViT / MobileViTV2 model (image classifier or bare model) as backbone
    and ``head.fc`` tensors."""
    network = detect_network(state_dict)
    prefix = next((p for p, n in _PREFIXES.items() if n == network), '')
    stripped = {(k[len(prefix):] if k.startswith(prefix) else k): v
                for k, v in state_dict.items()}
    renamed: Dict = rename_keys(stripped, _COMMON_RULES + _NETWORK_RULES[network])
    renamed = place_final_norms(_merge_qkv(renamed), 'layernorm')
    backbone, head = split_classifier(renamed, 'transformers')
    family = 'v1' if network == 'mobilevitv1' else 'v2'
    return SourceTensors(family=family, backbone=backbone, head=head, network=network)
