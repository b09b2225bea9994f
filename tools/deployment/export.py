"""Export a config's model for a runtime and check it against PyTorch.

    python tools/deployment/export.py CONFIG CHECKPOINT OUT [--shape H W] [--backbone-only]
        [--image IMG ...] [--no-fuse] [--dynamic] [--int8 [--calib-images N]]

OUT's suffix picks the runtime:

- ``.onnx``: ONNX, checked with ONNX Runtime (``--dynamic``: symbolic batch and size);
- ``.pte``: an ExecuTorch program lowered to the XNNPACK delegate (Android/iOS CPUs; runs on
  x86 too), checked with ExecuTorch's runtime; ``--int8`` quantises it after training, the
  activation ranges calibrated on ``--calib-images`` images of the config's train set;
- ``.mlpackage``: a Core ML ML program (coremltools); its spec is validated, but Core ML runs on
  Apple devices only, so it is not run here.

Outputs: classifier ``logits``; DeepLabv3 ``logits`` of the decode head at 1/OS of the input
(the segmentor resizes them to the image: ``MobileViTv3EncoderDecoder.logits_to_samples``);
SSDLite raw ``scores`` (background last) and ``boxes`` (regressions against the anchors) before
decoding and NMS; with --backbone-only the backbone's feature maps. The input is the normalised
image tensor (the data preprocessor's output) at ``--shape`` (default: the size the config's test
pipeline gives every image, else 256x256); ONNX files state what that input is in their
metadata_props (channel order, scaling, resizing, size: ``input_metadata`` of the config).

The exported graph is the model's inference form (``prepare_for_inference``: every batch norm
folded into its convolution); it is checked against the unfolded PyTorch model, so the check
covers the folding too. ``--no-fuse`` exports the model as it is. ``tools/test.py CONFIG OUT``
evaluates an exported ``.onnx`` / ``.pte`` with the config's metric.
"""
import argparse
import copy
import os
import sys
from pathlib import Path

import mmcv
import numpy as np
import torch

from mvit3_dense.utils.checkpoint import load_model_weights
from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.deploy import prepare_for_inference
from mvit3_dense.utils.errors import InputError, tool_errors
from mvit3_dense.utils.export import export_onnx, export_wrapper, input_metadata, network_input_size
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.runtime_sessions import exported_differences, load_exported

FORMATS = ('.onnx', '.pte', '.mlpackage')
TOLERANCE = 1e-4  # float exports: largest difference over the output's magnitude


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export for ONNX Runtime, ExecuTorch (XNNPACK) '
                                     'or Core ML, checked against PyTorch')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="trained weights; 'none' exports the initial weights")
    parser.add_argument('out', help='output file: .onnx, .pte (ExecuTorch) or .mlpackage (Core ML)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='network input size (default: the config\'s test size if fixed, '
                        'else 256 256)')
    parser.add_argument('--dynamic', action='store_true',
                        help='.onnx: symbolic batch, height and width (valid for sizes that align '
                        'with the patches like the traced shape, e.g. multiples of 64 at 256x256)')
    parser.add_argument('--backbone-only', action='store_true')
    parser.add_argument('--no-fuse', action='store_true',
                        help='export the batch norms as they are instead of folded into the '
                        'convolutions')
    parser.add_argument('--int8', action='store_true',
                        help='.pte: post-training int8 quantisation (XNNPACKQuantizer)')
    parser.add_argument('--calib-images', type=int, default=32,
                        help='--int8: images of the config\'s train set that calibrate the '
                        'activation ranges (default: 32)')
    parser.add_argument('--image', nargs='*', default=[],
                        help='images to check the export on, besides a random input')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser.parse_args(argv)


def check_arguments(args):
    suffix = Path(args.out).suffix
    if suffix not in FORMATS:
        raise InputError(f'{args.out}: unknown output type {suffix!r}; name the file .onnx (ONNX '
                         'Runtime), .pte (ExecuTorch, XNNPACK) or .mlpackage (Core ML)')
    if args.dynamic and suffix != '.onnx':
        raise InputError('--dynamic applies to .onnx exports only (ExecuTorch and Core ML '
                         'programs keep the exported shape)')
    if args.int8 and suffix != '.pte':
        raise InputError('--int8 applies to .pte exports (ExecuTorch with XNNPACK)')
    if args.calib_images < 1:
        raise InputError(f'--calib-images must be at least 1, got {args.calib_images}')
    return suffix


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


def write(suffix, exported, names, example, args, cfg, model):
    """Write the export; returns a one-line description of what was written and the int8
    calibration batches (None for float exports)."""
    if suffix == '.onnx':
        export_onnx(exported, names, example, args.out, dynamic=args.dynamic,
                    metadata=input_metadata(cfg))
        return 'ONNX', None
    if suffix == '.pte':
        from mvit3_dense.utils.calibration import calibration_inputs
        from mvit3_dense.utils.executorch_export import export_executorch
        calibration = None
        if args.int8:
            calibration = calibration_inputs(cfg, model, args.calib_images, tuple(example.shape[2:]))
        export_executorch(exported, example, args.out, calibration=calibration)
        kind = (f'int8 (calibrated on {sum(map(len, calibration))} train images)'
                if args.int8 else 'float32')
        return f'ExecuTorch, XNNPACK, {kind}', calibration
    from mvit3_dense.utils.coreml_export import export_coreml
    export_coreml(exported, names, example, args.out, metadata=input_metadata(cfg))
    return 'Core ML ML program, spec validated', None


def export_and_check(args):
    suffix = check_arguments(args)
    # Inputs first: nothing is written when an image or the checkpoint cannot be used.
    images = {img: read_image(img) for img in args.image}
    torch.manual_seed(0)  # the same initial weights ('none') and random check input every run
    model, cfg = build_model_from_config(load_config(args.config, args.cfg_options))
    if args.checkpoint != 'none':
        load_model_weights(model, args.checkpoint)
    model.eval()
    shape = tuple(args.shape or network_input_size(cfg) or (256, 256))
    # The check compares the export with the model as trained (norms not folded).
    wrapper, names = export_wrapper(model, backbone_only=args.backbone_only)
    exported = wrapper
    if not args.no_fuse:
        exported, _ = export_wrapper(
            prepare_for_inference(copy.deepcopy(model), channels_last=False),
            backbone_only=args.backbone_only)
    checks = {'random input': torch.randn(1, 3, *shape)}
    checks.update({img: image_tensor(image, model, shape) for img, image in images.items()})
    described, calibration = write(suffix, exported, names, torch.randn(1, 3, *shape), args, cfg,
                                   model)
    if calibration:
        # Random noise lies outside the ranges int8 was calibrated on: check on an image too.
        checks['a calibration image'] = calibration[0][:1]
    form = 'batch norms as trained' if args.no_fuse else 'batch norms folded into the convolutions'
    print(f'wrote {args.out} ({described}; input 1x3x{shape[0]}x{shape[1]}; outputs: '
          f'{", ".join(names)}; {form})')
    if suffix == '.mlpackage':
        print('not run: Core ML runs on Apple devices only (macOS, iOS)')
        return 0
    try:
        worst = 0.0
        run = load_exported(args.out)
        for name, inputs in checks.items():
            diff, relative = exported_differences(run, wrapper, inputs)
            worst = max(worst, relative)
            print(f'{name}: relative diff {suffix[1:]} vs PyTorch {relative:.2e}')
            print(f'{name}: max abs diff {suffix[1:]} vs PyTorch {diff:.2e}')
    except BaseException:
        os.unlink(args.out)  # an export that could not be checked is not left behind
        raise
    if args.int8:
        print('int8: the differences above are the quantisation error (no tolerance applies); '
              'tools/test.py CONFIG OUT measures its cost on the metric')
    elif worst > TOLERANCE:
        print(f'error: the export differs from PyTorch by {worst:.2e} of the output\'s magnitude '
              f'> {TOLERANCE:g}', file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        return export_and_check(args)


if __name__ == '__main__':
    sys.exit(main())
