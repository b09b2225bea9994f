from .checkpoint_hook import AtomicCheckpointHook
from .inference_form_hook import InferenceFormHook
from .progress_line_hook import ProgressLineHook
from .rng_state_hook import RNGStateHook
from .runner import SafeCheckpointRunner
from .seg_label_check_hook import SegLabelCheckHook

__all__ = [
    'AtomicCheckpointHook', 'InferenceFormHook', 'ProgressLineHook', 'RNGStateHook',
    'SafeCheckpointRunner', 'SegLabelCheckHook'
]
