from .checkpoint_hook import AtomicCheckpointHook
from .rng_state_hook import RNGStateHook
from .runner import SafeCheckpointRunner

__all__ = ['AtomicCheckpointHook', 'RNGStateHook', 'SafeCheckpointRunner']
