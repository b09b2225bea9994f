"""Parameters and MACs of a config's model, per stage, in the standard and the authors' convention.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H W] [--cfg-options KEY=VALUE ...]
"""
import argparse

from mmengine.config import DictAction

from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.complexity import format_table, model_complexity


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Parameters and MACs of a model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs=2, default=[256, 256], metavar=('H', 'W'),
                        help='input height and width (default: 256 256)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, as in tools/train.py')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    model, _ = build_model_from_config(args.config, args.cfg_options)
    print(format_table(model_complexity(model, tuple(args.shape)), args.shape))


if __name__ == '__main__':
    main()
