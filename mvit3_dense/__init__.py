"""mvit3-dense: MobileViTv3 backbones, DeepLabv3 and SSDLite for OpenMMLab.

Importing the package registers every module, so configs only need
``custom_imports=dict(imports=['mvit3_dense'], allow_failed_imports=False)``. It also lets
``torch.load(weights_only=True)`` read mmengine's own checkpoints (resume, ``load_from``), and
makes mmengine's local file writes (checkpoints, result dumps) atomic.
"""
__version__ = '0.1.0'

from .utils.atomic_io import use_atomic_local_backend  # noqa: E402
from .utils.checkpoint import allow_mmengine_checkpoint_globals  # noqa: E402

allow_mmengine_checkpoint_globals()
use_atomic_local_backend()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
