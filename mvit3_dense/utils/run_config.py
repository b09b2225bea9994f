"""The ``tools/train.py`` and ``tools/test.py`` flags applied to a config, and its inputs checked.

Training adds :class:`~mvit3_dense.engine.RNGStateHook` (checkpoints carry torch's random state, so
a resumed run continues exactly); testing applies ``--show-dir`` and ``--out`` the way each
library's own ``tools/test.py`` does, chosen by the config's ``default_scope``.
"""
import os
import os.path as osp
import shutil
from typing import Callable, Dict, Optional

from mmengine.config import Config

from .data_checks import check_datasets
from .errors import InputError
from .input_checks import check_data, check_evaluator_files, check_pretrained
from .runtime_sessions import RUNTIMES


def _default_work_dir(config_path: str) -> str:
    return osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def _add_hook(cfg: Config, hook_type: str) -> None:
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(hook.get('type') == hook_type for hook in hooks):
        cfg.custom_hooks = hooks + [dict(type=hook_type)]


def prepare_train_cfg(cfg: Config, config_path: str, *, work_dir: Optional[str] = None,
                      resume: Optional[str] = None, amp: bool = False,
                      launcher: str = 'none') -> Config:
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
    check_datasets(cfg, loaders, training=True)
    # Exact resumption: checkpoints carry torch's random state (mvit3_dense.engine.RNGStateHook).
    _add_hook(cfg, 'RNGStateHook')
    if cfg.get('default_scope') == 'mmseg':
        _add_hook(cfg, 'SegLabelCheckHook')
    return cfg


def _staging_folder(out: str) -> str:
    return out.rstrip('/' + os.sep) + '.partial'


def _seg_test_outputs(cfg: Config, show_dir: Optional[str], out: Optional[str]) -> None:
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


def _add_result_dump(cfg: Config, out: str, metric_type: str, task: str) -> None:
    """Append a metric that pickles the per-image results to ``out`` to the test evaluators."""
    if not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'--out must be a .pkl file for {task}, got {out}')
    evaluators = cfg.test_evaluator
    evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [evaluators]
    cfg.test_evaluator = evaluators + [dict(type=metric_type, out_file_path=out)]


def _det_test_outputs(cfg: Config, show_dir: Optional[str], out: Optional[str]) -> None:
    if show_dir:
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.test_out_dir = show_dir
    if out:
        _add_result_dump(cfg, out, 'DumpDetResults', 'detection')


def _cls_test_outputs(cfg: Config, show_dir: Optional[str], out: Optional[str]) -> None:
    if show_dir:
        cfg.default_hooks.visualization.enable = True
        cfg.default_hooks.visualization.out_dir = show_dir
    if out:
        # Per-image pred_score, pred_label and gt_label, as mmpretrain's own tools/test.py dumps.
        _add_result_dump(cfg, out, 'DumpResults', 'classification')


# default_scope -> how --show-dir and --out are applied (as each library's own tools/test.py does).
TEST_OUTPUTS: Dict[str, Callable[[Config, Optional[str], Optional[str]], None]] = {
    'mmseg': _seg_test_outputs, 'mmdet': _det_test_outputs, 'mmpretrain': _cls_test_outputs}


def prepare_test_cfg(cfg: Config, config_path: str, checkpoint: str, *,
                     work_dir: Optional[str] = None, show_dir: Optional[str] = None,
                     out: Optional[str] = None, launcher: str = 'none',
                     fuse: bool = True) -> Config:
    """Apply the ``tools/test.py`` flags to ``cfg`` and check its inputs.

    ``checkpoint``: trained weights, or an exported model (``.onnx``, ``.pte``) evaluated through
    its runtime (:class:`~mvit3_dense.models.ExportedModel` around the config's model: the same
    pipeline, post-processing and metric).
    ``fuse``: evaluate the inference form (``InferenceFormHook``: batch norms folded into the
    convolutions, channels-last weights; outputs within 1e-5 of the model as trained).
    """
    exported = osp.splitext(checkpoint)[1] in RUNTIMES
    if not osp.isfile(checkpoint):
        what = 'exported model' if exported else 'checkpoint'
        raise InputError(f'{what} not found: {osp.abspath(checkpoint)}')
    cfg.launcher = launcher
    cfg.work_dir = work_dir or cfg.get('work_dir') or _default_work_dir(config_path)
    # Testing needs no training set; left in, the Runner builds it whenever a hook asks for
    # runner.iter (mmseg's SegVisualizationHook does), and fails where it is absent.
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        cfg[key] = None
    if exported:
        cfg.model = dict(type='ExportedModel', model=cfg.model, file=checkpoint)
        cfg.load_from = None
        # The file holds the (averaged) weights already: nothing to swap in or fold.
        cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks') or []
                            if hook.get('type') not in ('EMAHook', 'InferenceFormHook')]
        fuse = False
    else:
        cfg.load_from = checkpoint
    if show_dir or out:
        scope = cfg.get('default_scope')
        if scope not in TEST_OUTPUTS:
            raise ValueError(f'--show-dir / --out are supported for scopes {sorted(TEST_OUTPUTS)}, '
                             f'not {scope!r}')
        TEST_OUTPUTS[scope](cfg, show_dir, out)
    check_data(cfg, ['test_dataloader'])
    check_evaluator_files(cfg, 'test_evaluator')
    check_datasets(cfg, ['test_dataloader'], training=False)
    if cfg.get('default_scope') == 'mmseg':
        _add_hook(cfg, 'SegLabelCheckHook')
    if fuse:
        _add_hook(cfg, 'InferenceFormHook')
    return cfg


def publish_test_outputs(cfg: Config, out: Optional[str]) -> None:
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


__all__ = ['TEST_OUTPUTS', 'prepare_test_cfg', 'prepare_train_cfg', 'publish_test_outputs']
