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


# The subset of the reference data that ships with the repository (tests/data/authors/README.md).
SHIPPED_REFERENCE = REPO_ROOT / 'tests' / 'data' / 'authors'


def missing_reference(message):
    """Skip a test whose reference data is absent; under CI (CI=true) fail instead."""
    if os.environ.get('CI', '').lower() == 'true':
        pytest.fail(f'{message} (CI=true: reference data must be present)', pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope='session')
def reference_dir():
    root = reference_root()
    if not (root / 'fixtures').is_dir():
        missing_reference(f'reference data not found at {root}; set MVIT3_REFERENCE to the folder '
                          'holding fixtures/, keys/ and params.tsv')
    return root


@pytest.fixture(scope='session')
def pipeline_dir():
    """The authors' full evaluation-path reference (photos, ground truth, their outputs)."""
    root = reference_root() / 'pipeline'
    if not (root / 'README.md').is_file():
        missing_reference(f'pipeline reference not found at {root}; set MVIT3_REFERENCE to the '
                          'folder holding pipeline/')
    return root


def load_fixture(reference_dir, name):
    """One of the authors' fixture files (tensors only, read with ``weights_only``)."""
    return torch.load(reference_dir / 'fixtures' / name, map_location='cpu', weights_only=True)


def run_tool(*args, timeout=None):
    """Run a script of this repository (e.g. ``tools/test.py``) in a fresh interpreter."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)


def regenerate_apple_input(io):
    """``x`` of an Apple fixture from its stored seed, checked against the stored values."""
    x = torch.randn(io['x_shape'], generator=torch.Generator().manual_seed(io['x_seed']))
    assert torch.equal(x.flatten()[:16], io['x_first16'])
    check = torch.stack([x.double().sum(), (x.double() ** 2).sum()])
    torch.testing.assert_close(check, io['x_check'].double(), rtol=1e-10, atol=0)
    return x


def relative_difference(ours, theirs):
    """Largest absolute difference over the reference's largest magnitude."""
    return ((ours - theirs).abs().max() / theirs.abs().max()).item()
