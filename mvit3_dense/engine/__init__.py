from .rng_state_hook import RNGStateHook
from .runner import SafeCheckpointRunner

__all__ = ['RNGStateHook', 'SafeCheckpointRunner']
