"""Run the embedded demos: for each config, evaluate the untrained model, train, evaluate again.

    python tools/demo/run_demo.py CONFIG [CONFIG ...] [--work-dir work_dirs/demo] [--data-out data/demo]

Works for any task (the config's default_scope decides: mIoU for segmentation, COCO mAP for
detection). A demo set that is missing is written first with tools/demo/make_demo_data.py.
"""
import argparse
import os.path as osp
import time

from make_demo_data import DEMO_SETS, make_demo_data  # the script's own folder is on sys.path

from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.errors import tool_errors
from mvit3_dense.utils.input_checks import check_data, leaf_datasets
from mvit3_dense.utils.metric_format import format_metrics
from mvit3_dense.utils.runner_builder import build_runner

LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _data_roots(cfg):
    for key in LOADERS:
        for dataset in leaf_datasets(cfg.get(key, {}).get('dataset')):
            if dataset.get('data_root'):
                yield dataset['data_root']


def ensure_demo_data(cfg, data_out):
    """Write the demo sets the config reads (by folder name) if they are not there yet."""
    folders = {folder: task for task, (folder, _) in DEMO_SETS.items()}
    for root in set(_data_roots(cfg)):
        if not osp.isdir(root) and osp.basename(osp.normpath(root)) in folders:
            make_demo_data(data_out or osp.dirname(osp.normpath(root)),
                           [folders[osp.basename(osp.normpath(root))]])


def run_demo(config, work_dir, data_out=None, cfg_options=None):
    """Evaluate, train, evaluate; returns (metrics before, metrics after, seconds by phase)."""
    times = {}
    start = time.time()
    cfg = load_config(config, cfg_options)
    if data_out:
        for key in LOADERS:
            for dataset in leaf_datasets(cfg.get(key, {}).get('dataset')):
                if not dataset.get('data_root'):
                    continue
                old_root = dataset['data_root']
                dataset['data_root'] = osp.join(data_out, osp.basename(osp.normpath(old_root)))
                # COCO's evaluator reads the annotations itself, by a path under the data root.
                evaluator = cfg.get(key.replace('dataloader', 'evaluator'), {})
                if isinstance(evaluator, dict) and str(evaluator.get('ann_file', '')).startswith(
                        old_root):
                    evaluator['ann_file'] = osp.join(
                        dataset['data_root'], evaluator['ann_file'][len(old_root):].lstrip('/'))
    ensure_demo_data(cfg, data_out)
    check_data(cfg, ['train_dataloader', 'val_dataloader'])
    times['data'] = time.time() - start
    cfg.work_dir = osp.join(work_dir, osp.splitext(osp.basename(config))[0])
    cfg.launcher = 'none'
    # Evaluated explicitly before and after training, not inside the training loop.
    cfg.train_cfg.val_begin = cfg.train_cfg.max_iters + 1

    runner = build_runner(cfg)
    # Initialise now, so the untrained model scored below is the one training starts from.
    runner.model.init_weights()
    phase = time.time()
    before = runner.val()
    times['eval untrained'] = time.time() - phase
    phase = time.time()
    runner.train()
    times['train'] = time.time() - phase
    phase = time.time()
    after = runner.val()
    times['eval trained'] = time.time() - phase
    times['total'] = time.time() - start
    return before, after, times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('configs', nargs='+', help='demo config files')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='parent of the runs\' work dirs')
    parser.add_argument('--data-out', help='parent folder of the demo sets (default: from the config)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args()
    summary = []
    for config in args.configs:
        with tool_errors():
            before, after, times = run_demo(config, args.work_dir, args.data_out,
                                            args.cfg_options)
        summary.append((config, before, after, times))
    for config, before, after, times in summary:
        print(f'\n=== {config}')
        print('untrained:\n' + format_metrics(before))
        print('trained:\n' + format_metrics(after))
        print('wall time: ' + ', '.join(f'{k} {v:.0f} s' for k, v in times.items()))


if __name__ == '__main__':
    main()
