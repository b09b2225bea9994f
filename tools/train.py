"""Train a model from a config (segmentation, detection, ...: the config's default_scope decides).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options K=V ...]
"""
import argparse
import os

from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.errors import explain_data_errors, tool_errors
from mvit3_dense.utils.run_config import prepare_train_cfg
from mvit3_dense.utils.runner_builder import build_runner


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
        cfg = load_config(args.config, args.cfg_options)
        cfg = prepare_train_cfg(cfg, args.config, work_dir=args.work_dir, resume=args.resume,
                                amp=args.amp, launcher=args.launcher)
        with explain_data_errors():
            build_runner(cfg).train()


if __name__ == '__main__':
    main()
