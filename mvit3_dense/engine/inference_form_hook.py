"""Evaluate a model in its inference form (batch norms folded, channels-last weights)."""
import copy

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils.deploy import prepare_for_inference


@HOOKS.register_module()
class InferenceFormHook(Hook):
    """Run the test loop on the inference form of the runner's model.

    The form is built from a copy when the test epoch starts: after ``Runner.test`` has loaded the
    checkpoint and after an ``EMAHook`` (higher priority) has swapped the averaged weights in, so
    those are the weights folded. The trained model itself is left untouched (EMA swaps it back).
    """

    priority = 'LOW'

    def __init__(self, channels_last: bool = True) -> None:
        self.channels_last = channels_last
        self._trained = None

    def before_test_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        self._trained = runner.model
        runner.model = prepare_for_inference(
            copy.deepcopy(model), fuse=True, channels_last=self.channels_last)

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._trained is not None:
            runner.model, self._trained = self._trained, None
