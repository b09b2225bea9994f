"""Build hook: a wheel carries the configs inside the package (``mvit3_dense/.mim/configs``).

Everything else about the package is declared in pyproject.toml.
"""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithConfigs(build_py):
    """Copy ``configs/`` and ``model-index.yml`` into the built package, where mim-style tools and
    :func:`mvit3_dense.utils.config_paths.config_root` look for them."""

    def run(self):
        super().run()
        if self.editable_mode:
            return  # an editable install reads configs/ from the checkout
        target = Path(self.build_lib) / 'mvit3_dense' / '.mim'
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / 'configs', target / 'configs',
                        ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        shutil.copy2(ROOT / 'model-index.yml', target / 'model-index.yml')


setup(cmdclass={'build_py': BuildWithConfigs})
