"""Evaluate a checkpoint on a config's test set and print the metrics (mIoU, COCO mAP, ...).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--show-dir DIR] [--out PATH]
                         [--cfg-options K=V ...]
"""
import argparse
import os

from mvit3_dense.utils.runtime import (CfgOptionsAction, build_runner, explain_data_errors,
                                       format_metrics, load_config, prepare_test_cfg,
                                       publish_test_outputs, tool_errors)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation results')
    parser.add_argument('--show-dir', help='save images with drawn predictions to this dir')
    parser.add_argument(
        '--out', help='segmentation: a dir for predicted label maps; detection or classification: '
        'a .pkl of per-image results')
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
        cfg = load_config(args.config, args.cfg_options)
        cfg = prepare_test_cfg(cfg, args.config, args.checkpoint, args.work_dir, args.show_dir,
                               args.out, args.launcher)
        with explain_data_errors():
            metrics = build_runner(cfg).test()
        publish_test_outputs(cfg, args.out)
    print(format_metrics(metrics))
    return metrics


if __name__ == '__main__':
    main()
