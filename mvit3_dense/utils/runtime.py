"""Config handling behind ``tools/train.py`` and ``tools/test.py``, for every task.

The config's ``default_scope`` (mmseg, mmdet, ...) decides the task; mmengine's Runner does the rest.
What this module adds to the stock OpenMMLab tools:

- inputs are checked before anything is built, so a missing data root or pretrained checkpoint fails
  at once with the path, the expected layout and how to get it;
- training checkpoints carry torch's random state, so that a resumed run continues exactly.

The Runner is ``SafeCheckpointRunner`` (``mvit3_dense/engine/runner.py``): checkpoint loads that
run no code and are strict when testing or resuming, checkpoint saves that a kill cannot lose.

Single-process runs need nothing here for SyncBN: mmengine's Runner reverts it to BN when the run
is not distributed.
"""
import ast
import difflib
import numbers
import os
import os.path as osp
import re
import shutil
import sys
from contextlib import contextmanager

from mmengine.config import Config, DictAction

from .checkpoint import CONVERTER, CheckpointError


# Dataset type -> how to obtain the data, added to the error for a missing data root.
DATA_HINTS = {
    'DemoVOCDataset': 'write it with: python tools/demo/make_demo_data.py --out data/demo --task seg',
    'PascalVOCDataset': "prepare VOC 2012 + SBD as in mmseg's dataset guide "
                        '(docs/en/user_guides/2_dataset_prepare.md, "Pascal VOC")',
    'ADE20KDataset': "prepare ADEChallengeData2016 as in mmseg's dataset guide "
                     '(docs/en/user_guides/2_dataset_prepare.md, "ADE20K")',
    'ImageNet': "prepare ImageNet-1k as in mmpretrain's dataset guide "
                '(docs/en/user_guides/dataset_prepare.md, "ImageNet"); the demo set: '
                'python tools/demo/make_demo_data.py --out data/demo --task cls',
    'CocoDataset': "prepare COCO 2017 as in mmdet's dataset guide "
                   '(docs/en/user_guides/dataset_prepare.md); the demo set: '
                   'python tools/demo/make_demo_data.py --out data/demo --task det',
}

_REMOTE = re.compile(r'^[a-z][a-z0-9+.-]*://')


class InputError(RuntimeError):
    """An input named by the config (data, checkpoint) is missing; the message says what to do."""


# Top-level settings mmengine's Runner reads even when a config leaves them out.
RUNNER_KEYS = frozenset([
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator',
    'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from', 'resume',
    'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer', 'default_scope',
    'randomness', 'experiment_name', 'runner_type', 'custom_imports', 'compile',
    'activation_checkpointing', 'efficient_conv_bn_eval', 'model_wrapper_cfg',
    'find_unused_parameters', 'strategy', 'gpu_ids', 'dist_params'])


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` that refuses an item without ``=`` with a usage error (mmengine
    raises a bare ``ValueError`` from inside argparse)."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if '=' not in item:
                parser.error(f'{option_string} {item}: each option is KEY=VALUE '
                             '(e.g. train_cfg.max_iters=100)')
        super().__call__(parser, namespace, values, option_string)


def _syntax_error_in(path, seen=None):
    """``file line N: message`` for the first config file (``path`` or a base) that does not
    parse, else None."""
    seen = seen if seen is not None else set()
    path = osp.abspath(path)
    if path in seen or not osp.isfile(path) or not path.endswith('.py'):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        source = f.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as err:
        return f'{path} line {err.lineno}: {err.msg}'
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '_base_'
                                                for t in node.targets):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else list(bases):
                found = _syntax_error_in(osp.join(osp.dirname(path), base), seen)
                if found:
                    return found
    return None


def check_cfg_options(cfg, cfg_options):
    """Refuse a ``--cfg-options`` key whose first part is neither a setting of the config nor one
    the Runner reads (a misspelling would otherwise be merged and ignored)."""
    known = set(cfg.keys()) | RUNNER_KEYS
    for key in cfg_options or {}:
        top = key.split('.', 1)[0]
        if top not in known:
            close = difflib.get_close_matches(top, sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ''
            raise InputError(f"--cfg-options {key}: the config has no setting '{top}'{hint}; "
                             'check the spelling against the config file')


def load_config(path, cfg_options=None):
    """Read a config file (which also imports its ``custom_imports``) and apply ``--cfg-options``."""
    if not osp.isfile(path):
        raise InputError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = _syntax_error_in(path) or f'{path}: {err.msg}'
        raise InputError(f'config {where}. Fix the file (a Python file of assignments).') from None
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    return cfg


def leaf_datasets(node):
    """Leaf dataset configs inside a (possibly wrapped: Concat/Repeat/...) dataset config."""
    if isinstance(node, dict):
        if 'datasets' in node:
            for child in node['datasets']:
                yield from leaf_datasets(child)
        elif 'dataset' in node:
            yield from leaf_datasets(node['dataset'])
        else:
            yield node


def _expected_paths(dataset):
    """What a dataset config expects under its data root: its data_prefix folders and ann_file
    (or, for mmpretrain's ImageNet-style ``split``, the split's folder)."""
    prefix = dataset.get('data_prefix') or {}
    expected = [p for p in (prefix.values() if isinstance(prefix, dict) else [prefix]) if p]
    if dataset.get('ann_file'):
        expected.append(dataset['ann_file'])
    if dataset.get('split') and not expected:
        expected.append(dataset['split'])
    return expected


def check_data(cfg, dataloaders):
    """Fail with a clear message if a dataset of ``dataloaders`` (e.g. ``['train_dataloader']``)
    points at a data root or file that does not exist."""
    for key in dataloaders:
        loader = cfg.get(key)
        if not loader:
            continue
        for dataset in leaf_datasets(loader.get('dataset')):
            root = dataset.get('data_root') or ''
            expected = _expected_paths(dataset)
            if root and _REMOTE.match(root):
                continue
            missing = [p for p in expected if not osp.exists(osp.join(root, p))]
            if (root and not osp.isdir(root)) or missing:
                hint = DATA_HINTS.get(dataset.get('type'), 'see the dataset config for its source')
                layout = ', '.join(expected) or '(no data_prefix / ann_file in the config)'
                what = (f'data root not found: {osp.abspath(root)}' if root and not osp.isdir(root)
                        else f'missing under {osp.abspath(root or ".")}: {", ".join(missing)}')
                raise InputError(
                    f'{key} ({dataset.get("type")}): {what}. Expected layout under the data root: '
                    f'{layout}. To fix: {hint}, or point the config at it with '
                    f'--cfg-options {key}.dataset.data_root=PATH (for wrapped datasets, the '
                    'data_root of each inner dataset).')


def check_evaluator_files(cfg, key):
    """An evaluator's ``ann_file`` (COCO metrics) must exist; when the data root was moved with
    --cfg-options, it still names the old place: say which file the dataset reads instead."""
    evaluators = cfg.get(key)
    for evaluator in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        ann = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if not ann or _REMOTE.match(str(ann)) or osp.isfile(ann):
            continue
        loader = key.replace('_evaluator', '_dataloader')
        dataset = next(leaf_datasets((cfg.get(loader) or {}).get('dataset')), None) or {}
        read = osp.join(dataset.get('data_root') or '', dataset.get('ann_file') or '')
        hint = (f'; the {loader} reads {read}: pass --cfg-options {key}.ann_file={read}'
                if dataset.get('ann_file') and osp.isfile(read) else '')
        raise InputError(f'{key}.ann_file not found: {osp.abspath(ann)}{hint}')


def _pretrained_paths(node):
    if isinstance(node, dict):
        init = node.get('init_cfg')
        for item in init if isinstance(init, list) else [init]:
            if isinstance(item, dict) and item.get('type') == 'Pretrained' and item.get('checkpoint'):
                yield item['checkpoint']
        for value in node.values():
            yield from _pretrained_paths(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _pretrained_paths(value)


def check_pretrained(cfg):
    """Fail with a clear message if a ``Pretrained`` init_cfg of the model names a missing file."""
    for path in _pretrained_paths(cfg.get('model')):
        if not _REMOTE.match(str(path)) and not osp.isfile(path):
            raise InputError(
                f'pretrained checkpoint not found: {osp.abspath(path)}. Convert the authors\' '
                f'ImageNet checkpoint with: python {CONVERTER} SRC {path} --kind backbone; or pass '
                'another file with --cfg-options model.backbone.init_cfg.checkpoint=PATH, or '
                'train from scratch with --cfg-options model.backbone.init_cfg=None.')


def _default_work_dir(config_path):
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def prepare_train_cfg(cfg, config_path, work_dir=None, resume=None, amp=False, launcher='none'):
    """Apply the ``tools/train.py`` flags to ``cfg`` and check its inputs.

    ``resume``: None (start afresh), ``'auto'`` (latest checkpoint of the work dir) or a checkpoint.
    ``amp``: switch ``OptimWrapper`` to ``AmpOptimWrapper`` with a dynamic loss scale.
    """
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or _default_work_dir(config_path)
    if amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, got {wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume:
        if not osp.isfile(resume):
            raise InputError(f'checkpoint to resume from not found: {osp.abspath(resume)}')
        cfg.resume, cfg.load_from = True, resume
    loaders = ['train_dataloader'] + (['val_dataloader'] if cfg.get('val_cfg') else [])
    check_data(cfg, loaders)
    if cfg.get('val_cfg'):
        check_evaluator_files(cfg, 'val_evaluator')
    check_pretrained(cfg)
    from .data_checks import check_datasets
    check_datasets(cfg, loaders, training=True)
    # Exact resumption: checkpoints carry torch's random state (mvit3_dense.engine.RNGStateHook).
    _add_hook(cfg, 'RNGStateHook')
    if cfg.get('default_scope') == 'mmseg':
        _add_hook(cfg, 'SegLabelCheckHook')
    return cfg


def _add_hook(cfg, hook_type):
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(hook.get('type') == hook_type for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type=hook_type)]


def _seg_test_outputs(cfg, show_dir, out):
    if show_dir:
        cfg.default_hooks.visualization.draw = True
        cfg.visualizer.save_dir = show_dir
    if out:
        # A folder of predicted label maps (mmseg's IoUMetric output_dir), written to a staging
        # folder and moved into place when the evaluation has finished (publish_test_outputs).
        staging = _staging_folder(out)
        shutil.rmtree(staging, ignore_errors=True)
        cfg.test_evaluator['output_dir'] = staging
        cfg.test_evaluator['keep_results'] = True


def _staging_folder(out):
    return out.rstrip('/' + os.sep) + '.partial'


def publish_test_outputs(cfg, out):
    """Move segmentation label maps from their staging folder into ``out``, each file by an
    atomic rename, so that ``out`` never holds a partly written map or a partial run's maps."""
    staging = _staging_folder(out) if out else None
    if cfg.get('default_scope') != 'mmseg' or not staging or not osp.isdir(staging):
        return
    if not osp.exists(out):
        os.replace(staging, out)
        return
    for name in sorted(os.listdir(staging)):
        os.replace(osp.join(staging, name), osp.join(out, name))
    os.rmdir(staging)


def _add_result_dump(cfg, out, metric_type, task):
    """Append a metric that pickles the per-image results to ``out`` to the test evaluators."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl file for {task}, got {out}')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    cfg.test_evaluator = evaluators + [dict(type=metric_type, out_file_path=out)]


def _det_test_outputs(cfg, show_dir, out):
    if show_dir:
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.test_out_dir = show_dir
    if out:
        _add_result_dump(cfg, out, 'DumpDetResults', 'detection')


def _cls_test_outputs(cfg, show_dir, out):
    if show_dir:
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.out_dir = show_dir
    if out:
        # Per-image pred_score, pred_label and gt_label, as mmpretrain's own tools/test.py dumps.
        _add_result_dump(cfg, out, 'DumpResults', 'classification')


# default_scope -> how --show-dir and --out are applied (as each library's own tools/test.py does).
TEST_OUTPUTS = {'mmseg': _seg_test_outputs, 'mmdet': _det_test_outputs,
                'mmpretrain': _cls_test_outputs}


def prepare_test_cfg(cfg, config_path, checkpoint, work_dir=None, show_dir=None, out=None,
                     launcher='none'):
    """Apply the ``tools/test.py`` flags to ``cfg`` and check its inputs."""
    if not osp.isfile(checkpoint):
        raise InputError(f'checkpoint not found: {osp.abspath(checkpoint)}')
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or _default_work_dir(config_path)
    cfg.load_from = checkpoint
    if show_dir or out:
        scope = cfg.get('default_scope')
        if scope not in TEST_OUTPUTS:
            raise ValueError(f'--show-dir / --out are supported for scopes {sorted(TEST_OUTPUTS)}, '
                             f'not {scope!r}')
        TEST_OUTPUTS[scope](cfg, show_dir, out)
    check_data(cfg, ['test_dataloader'])
    check_evaluator_files(cfg, 'test_evaluator')
    from .data_checks import check_datasets
    check_datasets(cfg, ['test_dataloader'], training=False)
    if cfg.get('default_scope') == 'mmseg':
        _add_hook(cfg, 'SegLabelCheckHook')
    return cfg


def _start_cpu_distributed(cfg):
    """Let ``--launcher pytorch`` run on machines without CUDA (gloo, CPU DDP).

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and hands DDP a device id,
    both of which fail without a GPU. The Runner skips its own set-up when a process group exists,
    so start one with gloo here, and wrap the model in DDP without device ids.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))


_UNREADABLE_IMAGE = re.compile(r'failed to load image: (\S+)')


@contextmanager
def explain_data_errors():
    """Turn a dataset image that cannot be decoded into an :class:`InputError` naming it.

    mmcv's ``LoadImageFromFile`` only asserts (also from inside DataLoader workers).
    """
    try:
        yield
    except AssertionError as err:
        found = _UNREADABLE_IMAGE.search(str(err))
        if found is None:
            raise
        raise InputError(f'cannot decode image {found.group(1)}: it is not a readable image '
                         '(truncated or corrupt?). Replace or remove it (and its annotation), '
                         'then run again.') from err


_BACKBONES = osp.join('mvit3_dense', 'models', 'backbones', '')


def _chain(err: BaseException):
    """``err`` and the exceptions it was raised from or during, outermost first."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _raised_in(err: BaseException, folder: str) -> bool:
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and folder in tb.tb_frame.f_code.co_filename


def explain(err: BaseException):
    """The one-line message for an error whose text names the problem and the fix, else None.

    mmengine's registry re-raises errors of built modules with the class prepended; the original
    error (deepest in the chain) is the one explained.
    """
    chain = list(_chain(err))
    for cause in reversed(chain):
        if isinstance(cause, (InputError, CheckpointError)):
            return ' '.join(str(cause).split())
    for cause in reversed(chain):
        if isinstance(cause, ValueError) and _raised_in(cause, _BACKBONES):
            return (f'model.backbone: {cause}. Fix the backbone settings in the config, or with '
                    '--cfg-options model.backbone.KEY=VALUE')
    return None


@contextmanager
def tool_errors():
    """Stop a tool with ``error: <message>`` (one line, exit status 1) for the errors that say
    what is wrong and what to do; anything else keeps its traceback."""
    try:
        yield
    except Exception as err:  # noqa: BLE001  re-raised unless explained
        message = explain(err)
        if message is None:
            raise
        sys.exit(f'error: {message}')


TORCHRUN_VARIABLES = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


def check_launcher(cfg):
    """``--launcher pytorch`` needs the variables torchrun sets; say so instead of a KeyError."""
    if cfg.get('launcher', 'none') != 'pytorch':
        return
    missing = [name for name in TORCHRUN_VARIABLES if name not in os.environ]
    if missing:
        raise InputError(
            f'--launcher pytorch needs the variables torchrun sets ({", ".join(missing)} not '
            'set): start with bash tools/dist_train.sh CONFIG GPUS (tools/dist_test.sh CONFIG '
            'CHECKPOINT GPUS), or torchrun --nproc_per_node=GPUS tools/train.py CONFIG --launcher '
            'pytorch; for one process leave --launcher out')


def build_runner(cfg):
    """The Runner of ``cfg`` in the config's scope: ``runner_type`` if set, else
    :class:`~mvit3_dense.engine.SafeCheckpointRunner` (safe, strict checkpoint loads)."""
    from mmengine.registry import RUNNERS, init_default_scope

    from ..engine import SafeCheckpointRunner
    check_launcher(cfg)
    _start_cpu_distributed(cfg)
    if 'runner_type' in cfg:
        init_default_scope(cfg.get('default_scope'))
        return RUNNERS.build(cfg)
    return SafeCheckpointRunner.from_cfg(cfg)


def format_metrics(metrics):
    """One line per metric, e.g. ``mIoU: 61.2500`` (numpy scalars included)."""
    return '\n'.join(f'{k}: {float(v):.4f}' if isinstance(v, numbers.Real) and not isinstance(
        v, (bool, int)) else f'{k}: {v}' for k, v in metrics.items())


__all__ = ['CONVERTER', 'CfgOptionsAction', 'InputError', 'build_runner', 'check_data',
           'check_pretrained', 'explain', 'format_metrics', 'leaf_datasets', 'load_config',
           'prepare_test_cfg', 'prepare_train_cfg', 'publish_test_outputs', 'tool_errors']
