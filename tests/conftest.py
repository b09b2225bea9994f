import os
from pathlib import Path

import pytest

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
