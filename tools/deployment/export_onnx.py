"""Export a config's model to ONNX and check it against PyTorch with onnxruntime.

    python tools/deployment/export_onnx.py CONFIG CHECKPOINT OUT.onnx [--shape H W] [--dynamic]
        [--backbone-only] [--image IMG ...]

Outputs: classifier ``logits``; DeepLabv3 ``logits`` at the input size (before the arg-max);
SSDLite raw ``scores`` (background last) and ``boxes`` (regressions against the anchors) before
decoding and NMS; with --backbone-only the backbone's feature maps. The input is the normalised
image tensor (the data preprocessor's output); the file's metadata_props state what that is
(channel order, scaling, resizing, size: ``input_metadata`` of the config).

The exported graph is the model's inference form (``prepare_for_inference``: every batch norm
folded into its convolution); it is checked against the unfolded PyTorch model, so the check
covers the folding too. ``--no-fuse`` exports the model as it is.
"""
import argparse
import copy
import os
import sys

import mmcv
import numpy as np
import torch

from mvit3_dense.utils.checkpoint import load_model_weights
from mvit3_dense.utils.deploy import prepare_for_inference
from mvit3_dense.utils.export import (export_onnx, export_wrapper, input_metadata,
                                      onnx_differences)
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.errors import InputError, tool_errors

TOLERANCE = 1e-4


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export to ONNX and check with onnxruntime')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="trained weights; 'none' exports the initial weights")
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256], metavar=('H', 'W'))
    parser.add_argument('--dynamic', action='store_true',
                        help='symbolic batch, height and width (valid for sizes that align with '
                        'the patches like the traced shape, e.g. multiples of 64 at 256x256)')
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--no-fuse', action='store_true',
                        help='export the batch norms as they are instead of folded into the '
                        'convolutions')
    parser.add_argument('--image', nargs='*', default=[],
                        help='images to check the export on, besides a random input')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args(argv)


def read_image(path):
    """A check image (BGR), or :class:`InputError` naming a file that is not one."""
    try:
        image = mmcv.imread(path) if os.path.isfile(path) and os.path.getsize(path) else None
    except Exception:  # noqa: BLE001  decoders raise various errors on damaged files
        image = None
    if image is None:
        what = 'not found' if not os.path.exists(path) else 'not a readable image'
        raise InputError(f'check image {path}: {what}. Pass image files (JPEG, PNG, ...) to '
                         '--image, or leave --image out.')
    return image


def image_tensor(image, model, shape):
    """An image resized to ``shape`` and normalised as the model's data preprocessor does."""
    image = mmcv.imresize(image, (shape[1], shape[0]))
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float()[None]
    preprocessor = model.data_preprocessor
    # mmseg/mmdet preprocessors keep the swap in _channel_conversion, mmpretrain's in to_rgb.
    if getattr(preprocessor, '_channel_conversion', False) or getattr(preprocessor, 'to_rgb', False):
        x = x[:, [2, 1, 0]]
    if getattr(preprocessor, '_enable_normalize', False):
        x = (x - preprocessor.mean.cpu()) / preprocessor.std.cpu()
    return x


def export_and_check(args):
    # Inputs first: nothing is written when an image or the checkpoint cannot be used.
    images = {img: read_image(img) for img in args.image}
    torch.manual_seed(0)  # the same initial weights ('none') and random check input every run
    model, cfg = build_model_from_config(load_config(args.config, args.cfg_options))
    if args.checkpoint != 'none':
        load_model_weights(model, args.checkpoint)
    model.eval()
    # The check compares the export with the model as trained (norms not folded).
    wrapper, names = export_wrapper(model, backbone_only=args.backbone_only)
    exported = wrapper
    if not args.no_fuse:
        exported, _ = export_wrapper(
            prepare_for_inference(copy.deepcopy(model), channels_last=False),
            backbone_only=args.backbone_only)
    checks = {'random input': torch.randn(1, 3, *args.shape)}
    checks.update({img: image_tensor(image, model, args.shape) for img, image in images.items()})
    path = export_onnx(exported, names, torch.randn(1, 3, *args.shape), args.out,
                       dynamic=args.dynamic, metadata=input_metadata(cfg))
    try:
        worst = 0.0
        for name, inputs in checks.items():
            diff, relative = onnx_differences(path, wrapper, inputs)
            worst = max(worst, diff)
            print(f'{name}: relative diff onnxruntime vs PyTorch {relative:.2e}')
            print(f'{name}: max abs diff onnxruntime vs PyTorch {diff:.2e}')
    except BaseException:
        os.unlink(path)  # an export that could not be checked is not left behind
        raise
    form = 'batch norms as trained' if args.no_fuse else 'batch norms folded into the convolutions'
    print(f'wrote {path} (outputs: {", ".join(names)}; {form})')
    if worst > TOLERANCE:
        print(f'error: the export differs from PyTorch by {worst:.2e} > {TOLERANCE:g}',
              file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        return export_and_check(args)


if __name__ == '__main__':
    sys.exit(main())
