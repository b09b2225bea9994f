from .checkpoint_hook import AtomicCheckpointHook
from .rng_state_hook import RNGStateHook
from .runner import SafeCheckpointRunner
from .seg_label_check_hook import SegLabelCheckHook

__all__ = ['AtomicCheckpointHook', 'RNGStateHook', 'SafeCheckpointRunner', 'SegLabelCheckHook']
