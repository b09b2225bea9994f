"""Convert a MobileViTv3 checkpoint of the authors' code (CVNets) for mvit3_dense.

    python tools/model_converters/cvnets2mmdense.py SRC DST [--arch ARCH] [--kind KIND]

--kind backbone (default): keys of ``MobileViTv3.state_dict()``, for
    ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` in segmentation/detection configs.
--kind classifier: an mmpretrain ``ImageClassifier`` checkpoint (``backbone.*`` + ``head.fc.*``).
--kind segmentor / detector: the authors' DeepLabv3 / SSDLite as a checkpoint of this project's
    mmseg / mmdet config (detected from the variant and the class count, or given with --config),
    loadable with strict=True.
"""
import argparse
import sys

from mvit3_dense.converters import ConversionError, convert_checkpoint_file
from mvit3_dense.utils.checkpoint import CheckpointError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' checkpoint (a state_dict or a dict holding one)")
    parser.add_argument('dst', help='output file')
    parser.add_argument('--arch', help='expected variant (xxs, xs, s, xxs-l2, ..., 0.5, 0.75, '
                        '1.0); detected from tensor shapes when omitted, refused when the '
                        'checkpoint holds another one')
    parser.add_argument('--kind', choices=['backbone', 'classifier', 'segmentor', 'detector'],
                        default='backbone')
    parser.add_argument('--config',
                        help='target config (segmentor, detector; found from the variant and '
                        'the class count when omitted)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar (it is only shown on a terminal anyway)')
    return parser.parse_args(argv)


def summary(result, dst):
    """One line saying what a :class:`~mvit3_dense.converters.Conversion` converted and where
    it went."""
    name = dict(segmentor='DeepLabv3', detector='SSDLite').get(result.kind)
    if name is not None:
        note = ' (auxiliary head not in the source: initialised)' if result.initialised else ''
        return (f'{name} MobileViTv3-{result.arch}, {result.num_classes} classes -> {dst} for '
                f'{result.config}{note}')
    dropped = ', classifier dropped' if result.dropped else ''
    return (f'MobileViTv3-{result.arch} ({result.family}-based, conv_1x1_exp '
            f'{"kept" if result.with_exp_conv else "absent"}) -> {dst} [{result.kind}{dropped}]')


def main(argv=None):
    args = parse_args(argv)
    try:
        result = convert_checkpoint_file(args.src, args.dst, kind=args.kind, arch=args.arch,
                                         config=args.config,
                                         progress=sys.stdout.isatty() and not args.quiet)
    except (ConversionError, CheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(summary(result, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
