"""Train a model from a config (segmentation, detection, ...: the config's default_scope decides).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options K=V ...]
"""
import argparse
import os

from mvit3_dense.utils.config_loader import CfgOptionsAction
from mvit3_dense.utils.errors import tool_errors
from mvit3_dense.utils.tool_runs import run_train


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if CKPT is omitted')
    parser.add_argument('--amp', action='store_true', help='automatic mixed-precision training')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config settings, key=value pairs (e.g. train_cfg.max_iters=100)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        run_train(args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
                  launcher=args.launcher, cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
