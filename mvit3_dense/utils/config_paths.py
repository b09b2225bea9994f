"""Where this package's configs live, installed or in a source checkout.

A wheel carries them inside the package as ``mvit3_dense/.mim/configs`` (the place OpenMMLab packages
and ``mim`` use); an editable install or a plain checkout reads ``configs/`` beside the package.
"""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def config_root() -> Path:
    """The folder holding ``deeplabv3/``, ``ssdlite/``, ``mobilevitv3/``, ``demo/`` and ``_base_/``."""
    for candidate in (_PACKAGE / '.mim' / 'configs', _PACKAGE.parent / 'configs'):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f'no configs found in {_PACKAGE / ".mim"} nor beside {_PACKAGE}: '
                            'reinstall mvit3-dense (pip install .) or use a source checkout')


def config_path(relative: str) -> Path:
    """A config by its path below the config root, e.g. ``'ssdlite/ssdlite_mobilevitv3-s_...py'``."""
    path = config_root() / relative
    if not path.is_file():
        raise FileNotFoundError(f'config {relative!r} not found under {config_root()}')
    return path
