"""The inference form of a model: batch norms folded into their convolutions, channels-last
memory, optionally ``torch.compile``.

Every batch norm of the MobileViTv3 backbones and of the DeepLabv3 / SSDLite heads sits right
after a convolution inside an mmcv ``ConvModule`` (the MobileNetV2 blocks, the MobileViT block's
local representation, ``conv_proj`` and ``fusion``, the ASPP branches, the SSDLite
depthwise-separable convolutions). In eval mode such a norm is an affine map per channel, so it
folds into the convolution's weight and bias (mmcv's :func:`mmcv.cnn.fuse_conv_bn`): one kernel
less per convolution, fewer parameters, the same outputs up to float rounding.

The folded model is for inference only: its norms are gone, so it must not be trained.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['count_batch_norms', 'fuse_conv_bn', 'prepare_for_inference']


def _foldable(norm: nn.Module) -> bool:
    """A batch norm that acts as a fixed per-channel affine map in eval mode."""
    return (isinstance(norm, _BatchNorm) and norm.track_running_stats
            and norm.running_mean is not None and norm.affine)


def _conv_then_norm(module: ConvModule) -> bool:
    order = tuple(module.order)
    return (module.with_norm and 'norm' in order
            and order.index('conv') < order.index('norm')
            and isinstance(module.conv, nn.Conv2d) and _foldable(module.norm))


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold, in place, every batch norm that directly follows a 2-D convolution.

    Where the order of the forward pass is known, mmcv's :func:`mmcv.cnn.fuse_conv_bn` does the
    folding: inside a ``ConvModule`` whose order puts the convolution before the norm, and inside
    an ``nn.Sequential`` (where a child follows the one registered before it). Any other module
    is only searched for these, because the order in which its children are registered says
    nothing about the order in which its forward calls them. A folded norm becomes
    ``nn.Identity``; norms without running statistics or without affine parameters are left as
    they are.

    Args:
        model (nn.Module): The model; put into eval mode first.

    Returns:
        nn.Module: ``model`` itself, folded.
    """
    model.eval()

    def visit(module: nn.Module) -> None:
        if isinstance(module, ConvModule):
            if _conv_then_norm(module):
                mmcv_fuse_conv_bn(module)
            return
        if isinstance(module, nn.Sequential):
            prev = None
            for name, child in module.named_children():
                if isinstance(prev, nn.Conv2d) and _foldable(child):
                    # mmcv folds the pair; the conv (shared with ``module``) takes the norm.
                    mmcv_fuse_conv_bn(nn.Sequential(prev, child))
                    module._modules[name] = nn.Identity()
                    child = module._modules[name]
                else:
                    visit(child)
                prev = child
            return
        for child in module.children():
            visit(child)

    with torch.no_grad():
        visit(model)
    return model


def count_batch_norms(model: nn.Module) -> int:
    """Batch-norm layers in ``model`` (0 for a fully folded MobileViTv3 backbone)."""
    return sum(isinstance(m, _BatchNorm) for m in model.modules())


def prepare_for_inference(model: nn.Module,
                          *,
                          fuse: bool = True,
                          channels_last: bool = True,
                          compile: Union[bool, dict] = False,
                          device: Optional[Union[str, torch.device]] = None) -> nn.Module:
    """The inference form of ``model``, in place: eval mode, then the optional steps below.

    Args:
        model (nn.Module): A backbone or a whole mmpretrain / mmseg / mmdet model.
        fuse (bool): Fold the batch norms into their convolutions (:func:`fuse_conv_bn`).
        channels_last (bool): Store the 4-D weights channels-last. Convolutions given
            channels-last weights return channels-last maps, so the network runs channels-last
            from its first convolution on, whatever the input's layout; inputs need not be
            converted.
        compile (bool | dict): ``torch.compile`` the model; a dict is passed to it as keyword
            arguments (e.g. ``dict(mode='max-autotune')``). The first calls compile (slow);
            the backbones compile without graph breaks.
        device (str | torch.device, optional): Move the model there first.

    Returns:
        nn.Module: ``model`` (or, with ``compile``, the compiled module wrapping it).
    """
    if device is not None:
        model = model.to(device)
    model.eval()  # not chained: some modules' train() returns None
    if fuse:
        fuse_conv_bn(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if compile:
        options = compile if isinstance(compile, dict) else {}
        model = torch.compile(model, **options)
    return model
