from mmengine.hooks import CheckpointHook
from mmengine.model import is_model_wrapper
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from ..utils.checkpoint import (check_finite, check_weights_fit, load_runner_checkpoint,
                                model_weights)


@RUNNERS.register_module()
class SafeCheckpointRunner(Runner):
    """mmengine's ``Runner`` (mmengine 0.10.7, ``runner/runner.py``) whose checkpoint loads run
    no code and whose checkpoint saves survive a kill.

    What differs from mmengine's Runner:

    - ``load_from`` and resuming read the file with :func:`load_runner_checkpoint` (tensors, plain
      containers and mmengine's own checkpoint objects only; anything else is refused as unsafe)
      instead of a bare ``torch.load``;
    - weights with NaN or infinite values are refused;
    - testing, validating and resuming load strictly: a checkpoint of another model or variant
      is refused with the mismatch named, instead of a warning followed by wrong numbers;
      ``load_from`` for training stays mmengine's partial load (fine-tuning);
    - a ``CheckpointHook`` of the config is run as :class:`AtomicCheckpointHook` (same settings):
      new checkpoint first, then ``last_checkpoint``, then removal of the superseded one.
    """

    _strict_load = False

    def register_default_hooks(self, hooks=None) -> None:
        hooks = dict(hooks or {})
        checkpoint = hooks.get('checkpoint', dict(type='CheckpointHook', interval=1))
        if isinstance(checkpoint, dict) and checkpoint.get('type') in ('CheckpointHook',
                                                                      CheckpointHook):
            hooks['checkpoint'] = dict(checkpoint, type='AtomicCheckpointHook')
        super().register_default_hooks(hooks)

    def _strictly(self, run, *args, **kwargs):
        strict, self._strict_load = self._strict_load, True
        try:
            return run(*args, **kwargs)
        finally:
            self._strict_load = strict

    def test(self) -> dict:
        return self._strictly(super().test)

    def val(self) -> dict:
        return self._strictly(super().val)

    def resume(self, filename: str, *args, **kwargs) -> None:
        self._strictly(super().resume, filename, *args, **kwargs)

    def load_checkpoint(self, filename: str, map_location='cpu', strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):  # noqa: B006 (mmengine's)
        checkpoint = load_runner_checkpoint(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        weights = model_weights(checkpoint, str(filename), tuple(map(tuple, revise_keys)))
        check_finite(weights, str(filename))
        if strict or self._strict_load:
            check_weights_fit(model.state_dict(), weights, str(filename))
        checkpoint = _load_checkpoint_to_model(model, checkpoint, strict or self._strict_load,
                                               revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint
