"""ExecuTorch programs (``.pte``) for phones: the network lowered to the XNNPACK delegate, in
float32 or int8 (post-training quantisation).

XNNPACK is ExecuTorch's CPU backend for Android and iOS (ARM) and also runs on x86, so the same
program is checked and timed here that a phone would run. int8 uses ExecuTorch's
``XNNPACKQuantizer`` (symmetric per-channel int8 weights, per-tensor int8 activations with
ranges observed on calibration images) through torch.ao's PT2E flow (``prepare_pt2e`` /
``convert_pt2e``); what the delegate cannot run stays in float on ExecuTorch's portable kernels.
"""
import copy
from pathlib import Path
from typing import Iterable, Optional, Union

import torch
import torch.nn as nn
from torch import Tensor

from .atomic_io import atomic_write
from .errors import InputError


def _require_executorch():
    try:
        import executorch  # noqa: F401
    except ImportError as error:
        raise InputError('exporting an ExecuTorch program (.pte) needs executorch: '
                         'pip install -r requirements/deploy.txt -c requirements/runtime.txt') from error


def _unfused_attention(wrapper: nn.Module) -> nn.Module:
    """A copy of ``wrapper`` whose attention is spelled out: ExecuTorch decomposes
    ``scaled_dot_product_attention`` with masking operators (any, where, ...) that XNNPACK does
    not take, which would split the delegated graph at every attention layer."""
    from ..models.layers.attention import MultiheadSelfAttention
    wrapper = copy.deepcopy(wrapper)
    for module in wrapper.modules():
        if isinstance(module, MultiheadSelfAttention):
            module.fused = False
    return wrapper


def quantize_int8(wrapper: nn.Module, example: Tensor, calibration: Iterable[Tensor]) -> nn.Module:
    """``wrapper`` with int8 weights and activations for XNNPACK, the activation ranges observed
    on ``calibration`` (batches of network inputs, normalised as the data preprocessor does).

    Returns the converted graph module (quantise / dequantise pairs around each int8 operator);
    lower it with :func:`export_executorch`.
    """
    _require_executorch()
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer, get_symmetric_quantization_config)
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    graph = torch.export.export(_unfused_attention(wrapper).eval(), (example, )).module()
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True))
    observed = prepare_pt2e(graph, quantizer)
    seen = 0
    with torch.no_grad():
        for batch in calibration:
            # The graph keeps the example's batch size.
            for piece in batch.split(len(example)):
                if len(piece) == len(example):
                    observed(piece)
                    seen += len(piece)
    if seen == 0:
        raise InputError('int8 calibration saw no images: give it some (e.g. --calib-images N '
                         'with a config whose train set exists)')
    return convert_pt2e(observed)


def export_executorch(wrapper: nn.Module, example: Tensor, path: Union[str, Path],
                      *, calibration: Optional[Iterable[Tensor]] = None) -> Path:
    """Lower ``wrapper`` (traced on ``example``, whose shape the program keeps) to XNNPACK and
    write the ExecuTorch program to ``path`` (atomically).

    Args:
        calibration: batches of network inputs; when given the program is int8
            (:func:`quantize_int8`), otherwise float32.
    """
    _require_executorch()
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    module = _unfused_attention(wrapper).eval()
    if calibration is not None:
        module = quantize_int8(wrapper, example, calibration)
    with torch.no_grad():
        program = torch.export.export(module, (example, ))
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    path = Path(path)
    atomic_write(lowered.to_executorch().buffer, path)
    return path
