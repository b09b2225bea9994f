"""mvit3-dense: MobileViTv3 backbones, DeepLabv3 and SSDLite for OpenMMLab.

Importing the package registers every module, so configs only need
``custom_imports=dict(imports=['mvit3_dense'], allow_failed_imports=False)``. It also makes
mmengine's local file writes (checkpoints, result dumps) atomic. It does not change what
``torch.load`` accepts: the project reads checkpoints through
``mvit3_dense.utils.checkpoint`` (the tools, ``SafeCheckpointRunner``, ``Pretrained``).
"""
__version__ = '0.1.0'

from .utils.atomic_io import use_atomic_local_backend  # noqa: E402

use_atomic_local_backend()

from . import datasets, engine, evaluation, models  # noqa: E402,F401
