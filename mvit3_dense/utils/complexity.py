"""Parameters and MACs through mmengine's ``FlopAnalyzer``, in two conventions.

Both count multiply-accumulates of convolutions, linear layers and attention matmuls; norms,
activations and element-wise ops are left out, as both reference counters do.

* ``standard``: an attention product costs N^2 x C (what ``torch.utils.flop_counter`` reports).
* ``authors``: the authors' profiler (CVNets ``profile_model``) charges each of the two attention
  products N x C^2, which is how the paper's MACs column was produced.
"""
from collections import OrderedDict

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.analysis.jit_handles import get_shape

from .tensor_mode import TensorMode

CONVENTIONS = ('standard', 'authors')
_NOT_COUNTED = ('aten::batch_norm', 'aten::group_norm', 'aten::layer_norm', 'aten::instance_norm',
                'aten::upsample_nearest2d', 'aten::upsample_bilinear2d',
                'aten::adaptive_avg_pool2d', 'aten::grid_sampler')


def _attention_macs(convention):

    def handle(inputs, outputs):
        batch, heads, tokens, head_dims = get_shape(inputs[0])
        keys = get_shape(inputs[1])[-2]
        if convention == 'standard':  # QK^T and AV
            return 2 * batch * heads * tokens * keys * head_dims
        channels = heads * head_dims
        return 2 * batch * tokens * channels * channels

    return handle


def _uncounted(inputs, outputs):
    return 0


def _analyzer(module, inputs, convention):
    analyzer = FlopAnalyzer(module, inputs)
    # A zero handle, not None: mmengine 0.10.7 ignores None for ops it already has a handle for.
    handles = {name: _uncounted for name in _NOT_COUNTED}
    handles['aten::scaled_dot_product_attention'] = _attention_macs(convention)
    analyzer.set_op_handle(**handles)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer


def stage_names(model):
    """Rows of the per-stage table: each backbone stage, then every other top-level part."""
    names = []
    for name, child in model.named_children():
        if name == 'data_preprocessor':
            continue
        if name == 'backbone':
            names += [f'backbone.{sub}' for sub, _ in child.named_children()]
        else:
            names.append(name)
    return names


def model_complexity(model, shape=(256, 256), tensor_mode=None):
    """Parameters and MACs of ``model`` for one ``1 x 3 x H x W`` input.

    Returns an ordered dict ``{row: dict(params, standard, authors)}`` with a ``total`` row last.
    ``tensor_mode`` wraps OpenMMLab models (their forward takes ``mode``); by default it is used
    whenever the model has a ``data_preprocessor``.
    """
    model = model.eval()
    if tensor_mode is None:
        tensor_mode = hasattr(model, 'data_preprocessor')
    traced = TensorMode(model) if tensor_mode else model
    prefix = 'model.' if tensor_mode else ''
    inputs = (torch.randn(1, 3, *shape),)
    counts = {c: _analyzer(traced, inputs, c).by_module() for c in CONVENTIONS}
    rows = OrderedDict()
    for name in stage_names(model):
        module = model.get_submodule(name)
        rows[name] = dict(params=sum(p.numel() for p in module.parameters()),
                          **{c: counts[c][prefix + name] for c in CONVENTIONS})
    rows['total'] = dict(params=sum(p.numel() for p in model.parameters()),
                         **{c: counts[c][prefix.rstrip('.')] for c in CONVENTIONS})
    return rows


def format_table(rows, shape):
    header = (f'{"module":<24}{"params":>12}{"MACs standard":>16}{"MACs authors":>16}'
              f'   (input 1x3x{shape[0]}x{shape[1]})')
    lines = [header, '-' * len(header)]
    for name, row in rows.items():
        if name == 'total':
            lines.append('-' * len(header))
        lines.append(f'{name:<24}{row["params"]:>12,}{row["standard"] / 1e6:>15.1f}M'
                     f'{row["authors"] / 1e6:>15.1f}M')
    lines.append('MACs standard: attention products counted as N^2 x C (torch flop counter). '
                 'MACs authors: counted as N x C^2, the convention of the paper\'s MACs column.')
    return '\n'.join(lines)
