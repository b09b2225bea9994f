import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save torch's random state in checkpoints and restore it on resume, for exact resumption.

    mmengine resumes weights, optimizer, schedulers and the data order (it re-reads the batches
    already trained, which also replays the data pipeline's numpy draws), but not torch's random
    state, so dropout after a resume differs from an uninterrupted run. The state is restored
    just before the first resumed iteration, after mmengine has replayed the data.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['rng_state'] = dict(torch=torch.get_rng_state())
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            checkpoint['rng_state']['cuda'] = torch.cuda.get_rng_state_all()

    def after_load_checkpoint(self, runner, checkpoint):
        self._pending = checkpoint.get('rng_state')

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self._pending is None:
            return
        torch.set_rng_state(self._pending['torch'])
        if 'cuda' in self._pending and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self._pending['cuda'])
        self._pending = None
