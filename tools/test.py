"""Evaluate a checkpoint on a config's test set and print the metrics (mIoU, COCO mAP, ...).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR] [--out PATH]
                         [--no-fuse] [--cfg-options K=V ...]

CHECKPOINT may also be an exported model (``.onnx``, ``.pte`` from tools/deployment/export.py):
its runtime computes the network and the config does everything else (pipeline,
post-processing, metric), so the figures measure the export.
"""
import argparse
import os

from mvit3_dense.utils.config_loader import CfgOptionsAction
from mvit3_dense.utils.errors import tool_errors
from mvit3_dense.utils.metric_format import format_metrics
from mvit3_dense.utils.tool_runs import run_test


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file, or an exported .onnx / .pte model')
    parser.add_argument('--work-dir', help='the dir to save the evaluation results')
    parser.add_argument('--show-dir', help='save images with drawn predictions to this dir')
    parser.add_argument(
        '--out', help='segmentation: a dir for predicted label maps; detection or classification: '
        'a .pkl of per-image results')
    parser.add_argument(
        '--no-fuse', action='store_true',
        help='evaluate the model as trained (default: its inference form, batch norms folded '
        'into the convolutions and channels-last weights; outputs within 1e-5)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override config settings, key=value pairs (e.g. test_dataloader.batch_size=1)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        metrics = run_test(args.config, args.checkpoint, work_dir=args.work_dir,
                           show_dir=args.show_dir, out=args.out, launcher=args.launcher,
                           cfg_options=args.cfg_options, fuse=not args.no_fuse)
    print(format_metrics(metrics))
    return metrics


if __name__ == '__main__':
    main()
