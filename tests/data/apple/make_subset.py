"""Write the shipped subset of Apple's MobileViTv1/v2 classifier fixtures.

    python tests/data/apple/make_subset.py [APPLE_REFERENCE]   (default: MVIT3_REFERENCE's sibling
                                                               apple/, else ../shared/reference/apple)

Copies the two classifiers' randomised state dicts unchanged and keeps, of their 320x256 io files,
only what regenerates the input and the logits (the full files also hold every stage).
"""
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
KEEP = ('x_shape', 'x_seed', 'x_first16', 'x_check', 'logits')


def default_source() -> Path:
    official = os.environ.get('MVIT3_REFERENCE')
    if official:
        return Path(official).parent / 'apple'
    return HERE.parents[2].parent / 'shared' / 'reference' / 'apple'


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else default_source()
    out = HERE / 'fixtures'
    out.mkdir(exist_ok=True)
    for name in ('mobilevit_xxs', 'mobilevitv2_0.5'):
        state = torch.load(source / 'fixtures' / f'{name}_state_dict.pt', weights_only=True)
        torch.save(state, out / f'{name}_state_dict.pt')
        io = torch.load(source / 'fixtures' / f'{name}_io_320x256.pt', weights_only=True)
        torch.save({key: io[key] for key in KEEP}, out / f'{name}_io_320x256.pt')
        print(f'{name}: {len(state)} tensors, io keys {list(KEEP)}')


if __name__ == '__main__':
    main()
