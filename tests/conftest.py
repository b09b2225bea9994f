import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def reference_root():
    """Folder with the authors' key listings, tables and fixtures (MVIT3_REFERENCE overrides)."""
    return Path(os.environ.get('MVIT3_REFERENCE', REPO_ROOT.parent / 'shared' / 'reference' / 'official'))


@pytest.fixture(scope='session')
def reference_dir():
    root = reference_root()
    if not (root / 'fixtures').is_dir():
        pytest.skip(f'reference data not found at {root}; set MVIT3_REFERENCE to the folder holding '
                    'fixtures/, keys/ and params.tsv')
    return root


def load_fixture(reference_dir, name):
    """One of the authors' fixture files (tensors only, read with ``weights_only``)."""
    return torch.load(reference_dir / 'fixtures' / name, map_location='cpu', weights_only=True)


def run_tool(*args):
    """Run a script of this repository (e.g. ``tools/test.py``) in a fresh interpreter."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True)
