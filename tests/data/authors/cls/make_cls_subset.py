"""Regenerate ``cls.json``, the classification subset of the authors' reference that ships here.

    python tests/data/authors/cls/make_cls_subset.py [REFERENCE]

REFERENCE is the folder holding ``pipeline/`` (default: ``../shared/reference/official`` beside
the repository; ``MVIT3_REFERENCE`` overrides). From ``pipeline/cls_v1_xxs.pt`` and
``pipeline/cls_v2_0.5.pt`` (the authors' evaluation of the photos in ``../images``) it keeps, per
family: the photos in the authors' evaluation order, their original sizes, the sha256 of each
model input as the exact uint8 CHW bytes (channel order as the authors feed it; the network input
is these bytes / 255) and the top-5 classes of the authors' logits. The logits themselves and the
weights stay in the full reference.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
CASES = {'v1': 'cls_v1_xxs', 'v2': 'cls_v2_0.5'}


def input_sha256(image_u8: torch.Tensor) -> str:
    """sha256 of a uint8 CHW image's bytes (C-contiguous)."""
    return hashlib.sha256(image_u8.contiguous().numpy().tobytes()).hexdigest()


def family_entry(case: dict) -> dict:
    inputs = case['input_u8']
    return {
        'case': case['case'],
        'files': list(case['files']),
        'orig_hw': case['orig_hw'].tolist(),
        'input_shape': list(inputs.shape[1:]),
        'input_sha256': [input_sha256(x) for x in inputs],
        'top5': case['top5'].tolist(),
    }


def make_subset(reference: Path) -> dict:
    families = {}
    for family, name in CASES.items():
        case = torch.load(reference / 'pipeline' / f'{name}.pt', map_location='cpu',
                          weights_only=True)
        families[family] = family_entry(case)
    return {'source': "pipeline/cls_v1_xxs.pt and pipeline/cls_v2_0.5.pt of the authors' reference",
            'families': families}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    default = os.environ.get('MVIT3_REFERENCE', REPO.parent / 'shared' / 'reference' / 'official')
    reference = Path(argv[0] if argv else default)
    if not (reference / 'pipeline').is_dir():
        print(f'error: no pipeline/ folder under {reference}: pass the reference folder',
              file=sys.stderr)
        return 1
    out = HERE / 'cls.json'
    out.write_text(json.dumps(make_subset(reference), indent=1) + '\n')
    print(f'wrote {out} ({out.stat().st_size} bytes)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
