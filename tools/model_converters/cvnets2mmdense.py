"""Convert a MobileViT checkpoint (ml-cvnets: MobileViTv1/v2/v3; timm; Hugging Face) for
mvit3_dense.

    python tools/model_converters/cvnets2mmdense.py SRC DST [--kind KIND] [--arch ARCH]
        [--source cvnets|timm|hf] [--config CONFIG]

--source cvnets (default): Apple's MobileViTv1 / MobileViTv2 and the MobileViTv3 authors'
    checkpoints (the network is detected from the keys and shapes); timm: ``mobilevit_*`` /
    ``mobilevitv2_*`` state dicts; hf: transformers ``MobileViT(V2)ForImageClassification``.
--kind backbone (default): keys of ``MobileViTv3.state_dict()``, for
    ``init_cfg=dict(type='Pretrained', checkpoint=DST)`` in segmentation/detection configs.
--kind classifier: an mmpretrain ``ImageClassifier`` checkpoint (``backbone.*`` + ``head.fc.*``).
--kind segmentor / detector (cvnets only): DeepLabv3 / SSDLite as a checkpoint of this project's
    mmseg / mmdet config (detected from the variant and the class count, or given with --config),
    loadable with strict=True.
"""
import argparse
import sys
from typing import List, Optional

from mvit3_dense.converters import KINDS, SOURCES, Conversion, ConversionError, \
    convert_checkpoint_file
from mvit3_dense.converters.variant import display_name
from mvit3_dense.utils.checkpoint import CheckpointError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    lines = __doc__.splitlines()
    parser = argparse.ArgumentParser(description=' '.join(lines[:2]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog='\n'.join(lines[6:]))
    parser.add_argument('src', help='the checkpoint (a state_dict or a dict holding one)')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--arch', help='expected variant (MobileViTv3 xxs, xs, s, xxs-l2, ..., '
                        '0.5, 0.75, 1.0; mobilevitv1-xxs, mobilevitv1-xs, mobilevitv1-s; '
                        'mobilevitv2-<width>); detected from tensor shapes when omitted, '
                        'refused when the checkpoint holds another one')
    parser.add_argument('--kind', choices=KINDS, default='backbone')
    parser.add_argument('--source', choices=list(SOURCES), default='cvnets',
                        help='checkpoint format: ' + '; '.join(
                            f'{name}: {fmt.description}' for name, fmt in SOURCES.items()))
    parser.add_argument('--config',
                        help='target config (segmentor, detector; found from the variant and '
                        'the class count when omitted)')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress bar (it is only shown on a terminal anyway)')
    return parser.parse_args(argv)


def summary(result: Conversion, dst: str) -> str:
    """One line saying what a :class:`~mvit3_dense.converters.Conversion` converted and where
    it went."""
    name = dict(segmentor='DeepLabv3', detector='SSDLite').get(result.kind)
    model = display_name(result.arch)
    if name is not None:
        note = ' (auxiliary head not in the source: initialised)' if result.initialised else ''
        return (f'{name} {model}, {result.num_classes} classes -> {dst} for '
                f'{result.config}{note}')
    dropped = ', classifier dropped' if result.dropped else ''
    return (f'{model} ({result.family}-based, conv_1x1_exp '
            f'{"kept" if result.with_exp_conv else "absent"}, from {result.source_format}) -> '
            f'{dst} [{result.kind}{dropped}]')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        result = convert_checkpoint_file(args.src, args.dst, kind=args.kind, arch=args.arch,
                                         config=args.config, source=args.source,
                                         progress=sys.stdout.isatty() and not args.quiet)
    except (ConversionError, CheckpointError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(summary(result, args.dst))
    return 0


if __name__ == '__main__':
    sys.exit(main())
