"""Reading a config file and applying ``--cfg-options``, with one-line errors for the mistakes a
user makes: a missing file, a syntax error (in the file or one of its bases), a misspelt key.
"""
import argparse
import ast
import difflib
import os.path as osp
from typing import Optional, Sequence, Set

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


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
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


__all__ = ['CfgOptionsAction', 'RUNNER_KEYS', 'check_cfg_options', 'load_config']
