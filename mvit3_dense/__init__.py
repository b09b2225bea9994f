"""mvit3-dense: MobileViTv3 backbones, DeepLabv3 and SSDLite for OpenMMLab.

Importing the package registers every module, so configs only need
``custom_imports=dict(imports=['mvit3_dense'], allow_failed_imports=False)``.
"""
__version__ = '0.1.0'

from . import models  # noqa: E402,F401
