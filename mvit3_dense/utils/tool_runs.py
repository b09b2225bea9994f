"""What ``tools/train.py`` and ``tools/test.py`` do, as functions: the one road from a config file
to a trained or evaluated model, shared by the tools and the embedded demo.

    load_config -> prepare_train_cfg / prepare_test_cfg -> explain_data_errors(build_runner -> run)

so every run gets the same input checks, the RNG-state hook for exact resumption, and the same
one-line explanation of unreadable data.
"""
from typing import Dict, Iterable, Optional

from mmengine.hooks import Hook
from mmengine.runner import Runner

from .config_loader import load_config
from .errors import explain_data_errors
from .run_config import prepare_test_cfg, prepare_train_cfg, publish_test_outputs
from .runner_builder import build_runner


def _with_hooks(runner: Runner, hooks: Iterable[Hook]) -> Runner:
    for hook in hooks:
        runner.register_hook(hook)
    return runner


def run_train(config: str, *, work_dir: Optional[str] = None, resume: Optional[str] = None,
              amp: bool = False, launcher: str = 'none', cfg_options: Optional[dict] = None,
              hooks: Iterable[Hook] = ()) -> Runner:
    """Train the model of ``config`` as ``tools/train.py`` does; returns the finished Runner.

    ``hooks``: extra hook objects registered on the Runner (the demo's progress line).
    """
    cfg = load_config(config, cfg_options)
    cfg = prepare_train_cfg(cfg, config, work_dir=work_dir, resume=resume, amp=amp,
                            launcher=launcher)
    with explain_data_errors():
        runner = _with_hooks(build_runner(cfg), hooks)
        runner.train()
    return runner


def run_test(config: str, checkpoint: str, *, work_dir: Optional[str] = None,
             show_dir: Optional[str] = None, out: Optional[str] = None, launcher: str = 'none',
             cfg_options: Optional[dict] = None, hooks: Iterable[Hook] = (),
             fuse: bool = True) -> Dict[str, float]:
    """Evaluate ``checkpoint`` on the test set of ``config`` as ``tools/test.py`` does; returns
    the metrics. ``show_dir`` / ``out``: pictures of the predictions / the raw predictions;
    ``fuse``: in the inference form (batch norms folded), ``False`` as trained."""
    cfg = load_config(config, cfg_options)
    cfg = prepare_test_cfg(cfg, config, checkpoint, work_dir=work_dir, show_dir=show_dir, out=out,
                           launcher=launcher, fuse=fuse)
    with explain_data_errors():
        metrics = _with_hooks(build_runner(cfg), hooks).test()
    publish_test_outputs(cfg, out)
    return metrics


__all__ = ['run_test', 'run_train']
