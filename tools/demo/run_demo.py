"""Run the embedded demos: for each config, evaluate the untrained model, train, evaluate again.

    python tools/demo/run_demo.py CONFIG [CONFIG ...] [--work-dir work_dirs/demo] [--data-out DIR]
                                  [--resume] [--cfg-options K=V ...]

Each demo takes the road of ``tools/train.py`` and ``tools/test.py`` (``run_train`` / ``run_test``
of ``mvit3_dense.utils.tool_runs``: the same input checks, the RNG-state hook, the same errors):

1. the demo set the config reads (its ``data_root``) is written if missing;
2. the untrained model (the config's seed) is saved and evaluated as ``tools/test.py`` would;
3. training starts from exactly those weights, as ``tools/train.py --cfg-options load_from=...``;
4. the trained checkpoint is evaluated with ``--show-dir``: pictures of the predictions.

The console shows one line per step and a progress line while training; mmengine's full log
stays in the work dir (``<work dir>/<config>/{eval_untrained,train,eval_trained}/*/*.log``).
"""
import argparse
import contextlib
import io
import os.path as osp
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, TextIO

from mmengine.runner import find_latest_checkpoint, set_random_seed

from mvit3_dense.datasets import DEMO_SETS, count_images, write_demo_set
from mvit3_dense.utils.checkpoint import atomic_save
from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.errors import InputError, tool_errors
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.engine import ProgressLineHook
from mvit3_dense.utils.tool_runs import run_test, run_train

# default_scope -> (demo set, what the demo shows, the metric the screen reports).
TASKS = {
    'mmpretrain': ('cls', 'classification', 'accuracy/top1'),
    'mmseg': ('seg', 'segmentation', 'mIoU'),
    'mmdet': ('det', 'detection', 'coco/bbox_mAP'),
}
PICTURES = ('.png', '.jpg', '.jpeg')


class _Discard(io.TextIOBase):
    """A text stream that drops what it is given (mmengine's console handler during a demo)."""

    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def _log_to_work_dir_only(warnings_file: Path):
    """mmengine's console output dropped (its log file keeps everything); Python warnings
    appended to ``warnings_file`` instead of the console."""
    with contextlib.redirect_stdout(_Discard()), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            yield
        finally:
            if caught:
                with open(warnings_file, 'a', encoding='utf-8') as f:
                    for w in caught:
                        f.write(f'{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}\n')


def _metric(metrics: Dict[str, float], key: str) -> str:
    value = metrics.get(key, next(iter(metrics.values()), float('nan')))
    return f'{key} {float(value):.2f}'


def _save_untrained(config: str, cfg_options: Optional[dict], path: Path) -> None:
    """The model of ``config`` as training initialises it (the config's seed), saved to ``path``."""
    cfg = load_config(config, cfg_options)
    set_random_seed(cfg.get('randomness', {}).get('seed', 0))
    model, _ = build_model_from_config(cfg)
    model.init_weights()
    atomic_save(dict(meta=dict(note='untrained: the initial weights of ' + osp.basename(config)),
                     state_dict=model.state_dict()), path)


def _run_options(options: dict, run: Path) -> dict:
    """``options`` for one of the demo's Runners. Several Runners share this process and mmengine
    keeps one visualizer per name (the configs name it 'visualizer'): each run gets its own, which
    draws into its own folders."""
    return {'visualizer.name': f'{run.parent.name}/{run.name}', **options}


def run_demo(config: str, work_dir: str, *, data_out: Optional[str] = None,
             cfg_options: Optional[dict] = None, resume: bool = False,
             stream: Optional[TextIO] = None) -> dict:
    """Write the data if missing, evaluate the untrained model, train, evaluate the trained one.

    Returns ``before`` and ``after`` metrics, ``times`` (seconds by phase), ``metric`` (the key
    the screen reports), the ``work_dir``, ``log`` (the training log file) and ``pictures``.
    """
    out = stream or sys.stdout
    start = time.perf_counter()
    options = dict(cfg_options or {})
    cfg = load_config(config, options)
    if cfg.get('default_scope') not in TASKS:
        raise InputError(f'{config}: not a demo config (default_scope '
                         f'{cfg.get("default_scope")!r}, expected one of {sorted(TASKS)})')
    task, shows, metric = TASKS[cfg.default_scope]
    if data_out:
        options['data_root'] = osp.join(data_out, DEMO_SETS[task].folder)
        cfg = load_config(config, options)
    root = Path(work_dir) / osp.splitext(osp.basename(config))[0]
    root.mkdir(parents=True, exist_ok=True)
    out.write(f'\n=== {shows} demo: {config}\n')

    data_root = cfg.get('data_root')
    if not data_root:
        raise InputError(f'{config}: a demo config names its data folder in data_root')
    written = write_demo_set(task, data_root)
    counts = ' + '.join(f'{n} {split}' for split, n in count_images(task, data_root).items())
    times = {'data': time.perf_counter() - start}
    out.write(f'data      {data_root}: {counts} images '
              f'({"written" if written else "already there"}, {times["data"]:.0f} s)\n')
    out.write(f'work dir  {root} (full logs there)\n')
    out.flush()

    phase = time.perf_counter()
    untrained = root / 'untrained.pth'
    with _log_to_work_dir_only(root / 'warnings.log'):
        _save_untrained(config, options, untrained)
        before = run_test(config, str(untrained), work_dir=str(root / 'eval_untrained'),
                          cfg_options=_run_options(options, root / 'eval_untrained'))
    times['eval untrained'] = time.perf_counter() - phase
    out.write(f'before    {_metric(before, metric)}  '
              f'(untrained model, {times["eval untrained"]:.0f} s)\n')
    out.flush()

    phase = time.perf_counter()
    max_iters = cfg.train_cfg.max_iters
    train_options = dict(_run_options(options, root / 'train'), load_from=str(untrained))
    # Evaluated below by the test road (with pictures), not again inside the training loop.
    train_options['train_cfg.val_begin'] = max_iters + 1
    with _log_to_work_dir_only(root / 'warnings.log'):
        runner = run_train(config, work_dir=str(root / 'train'), resume='auto' if resume else None,
                           cfg_options=train_options, hooks=[ProgressLineHook(out, interval=10)])
    times['train'] = time.perf_counter() - phase
    log = Path(runner.log_dir) / f'{runner.timestamp}.log'
    out.write(f'trained   {max_iters} iterations in {times["train"]:.0f} s; log {log}\n')

    phase = time.perf_counter()
    checkpoint = find_latest_checkpoint(str(root / 'train'))
    pictures_dir = (root / 'predictions').resolve()
    with _log_to_work_dir_only(root / 'warnings.log'):
        after = run_test(config, checkpoint, work_dir=str(root / 'eval_trained'),
                         show_dir=str(pictures_dir),
                         cfg_options=_run_options(options, root / 'eval_trained'))
    times['eval trained'] = time.perf_counter() - phase
    pictures = sorted(p for p in pictures_dir.rglob('*') if p.suffix.lower() in PICTURES)
    out.write(f'after     {_metric(after, metric)}  '
              f'(trained model, {times["eval trained"]:.0f} s)\n')
    out.write(f'pictures  {len(pictures)} predictions drawn in {pictures_dir}\n')
    out.flush()
    times['total'] = time.perf_counter() - start
    return dict(task=task, metric=metric, before=before, after=after, times=times,
                work_dir=root, log=log, pictures=pictures)


def summary(results: List[dict]) -> str:
    """The final table: metric before -> after and the wall time of each phase."""
    lines = ['', '=== summary (wall time per phase, seconds)',
             f'{"demo":5} {"metric":14} {"before":>7} -> {"after":<7} {"data":>5} '
             f'{"eval0":>6} {"train":>6} {"eval1":>6} {"total":>6}']
    for r in results:
        t = r['times']
        before = float(r['before'].get(r['metric'], float('nan')))
        after = float(r['after'].get(r['metric'], float('nan')))
        lines.append(f'{r["task"]:5} {r["metric"]:14} {before:7.2f} -> {after:<7.2f} '
                     f'{t["data"]:5.0f} {t["eval untrained"]:6.0f} {t["train"]:6.0f} '
                     f'{t["eval trained"]:6.0f} {t["total"]:6.0f}')
    total = sum(r['times']['total'] for r in results)
    lines.append(f'all demos: {total:.0f} s')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('configs', nargs='+', help='demo config files')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help="parent of the runs' work dirs")
    parser.add_argument('--data-out', help='parent folder of the demo sets (default: each '
                        "config's data_root)")
    parser.add_argument('--resume', action='store_true',
                        help='resume each training from the latest checkpoint of its work dir')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, key=value pairs')
    args = parser.parse_args(argv)
    results = []
    for config in args.configs:
        with tool_errors():
            results.append(run_demo(config, args.work_dir, data_out=args.data_out,
                                    cfg_options=args.cfg_options, resume=args.resume))
    print(summary(results))
    return results


if __name__ == '__main__':
    main()
