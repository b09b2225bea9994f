"""Reading a config file and applying ``--cfg-options``, with one-line errors for the mistakes a
user makes: a missing file, a syntax error (in the file or one of its bases), a misspelt key.

Moving the data with one option: a config that names its data folder in a top-level ``data_root``
variable derives its paths from it (``data_root=data_root`` in each dataset, and for COCO the
evaluator's ``ann_file=data_root + 'annotations/...'``). mmengine evaluates the file once, so
``--cfg-options data_root=DIR`` alone would change the variable and no path. :func:`load_config`
therefore also moves every string of the config that starts with the old ``data_root`` (the
dataset roots, the COCO evaluator's ``ann_file``, ...) to ``DIR``; options given explicitly for
those paths still win, being merged afterwards.
"""
import argparse
import ast
import difflib
import os.path as osp
from typing import Any, Optional, Sequence, Set

from mmengine.config import Config, DictAction

from .errors import InputError

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

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Sequence[str], option_string: Optional[str] = None) -> None:
        for item in values:
            if '=' not in item:
                parser.error(f'{option_string} {item}: each option is KEY=VALUE '
                             '(e.g. train_cfg.max_iters=100)')
        super().__call__(parser, namespace, values, option_string)


def _syntax_error_in(path: str, seen: Optional[Set[str]] = None) -> Optional[str]:
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


def check_cfg_options(cfg: Config, cfg_options: Optional[dict]) -> None:
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


def _moved(value: Any, old: str, new: str) -> Any:
    """``value`` with every string under the folder ``old`` moved to ``new`` (dicts, lists and
    tuples walked; dicts changed in place)."""
    if isinstance(value, str):
        if value == old or value.rstrip('/') == old.rstrip('/'):
            return new
        folder = old if old.endswith('/') else old + '/'
        if value.startswith(folder):
            return osp.join(new, value[len(folder):])
        return value
    if isinstance(value, dict):
        for key in list(value.keys()):
            value[key] = _moved(value[key], old, new)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_moved(item, old, new) for item in value)
    return value


def move_data_root(cfg: Config, data_root: str) -> None:
    """Point every path that ``cfg`` derived from its ``data_root`` variable at ``data_root``
    (see the module's docstring); a config without a ``data_root`` string is left as it is."""
    old = cfg.get('data_root')
    if not isinstance(old, str) or not old:
        return
    new = data_root if not old.endswith('/') or data_root.endswith('/') else data_root + '/'
    for key in list(cfg.keys()):
        if key != 'data_root':
            cfg[key] = _moved(cfg[key], old, new)
    cfg.data_root = new


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config file (which also imports its ``custom_imports``) and apply ``--cfg-options``.

    ``data_root`` among the options moves every path derived from the config's ``data_root``
    (:func:`move_data_root`) before the other options are merged.
    """
    if not osp.isfile(path):
        raise InputError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        where = _syntax_error_in(path) or f'{path}: {err.msg}'
        raise InputError(f'config {where}. Fix the file (a Python file of assignments).') from None
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        if isinstance(cfg_options.get('data_root'), str):
            move_data_root(cfg, cfg_options['data_root'])
        cfg.merge_from_dict(cfg_options)
    return cfg


__all__ = ['CfgOptionsAction', 'RUNNER_KEYS', 'check_cfg_options', 'load_config', 'move_data_root']
