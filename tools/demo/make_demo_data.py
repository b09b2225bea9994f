"""Write the embedded demo data sets (deterministic synthetic scenes).

    python tools/demo/make_demo_data.py --out data/demo --task seg

Each task writes one sub-folder of ``--out``; a folder that exists already is kept unless ``--force``.
"""
import argparse
import shutil
import time
from pathlib import Path

from mvit3_dense.datasets import write_demo_coco, write_demo_imagenet, write_demo_voc

# task -> (sub-folder of --out, writer(root)). The demo configs read these folders.
DEMO_SETS = {
    'seg': ('voc', lambda root: write_demo_voc(root, {'train': 600, 'val': 100}, size=128, seed=0)),
    'cls': ('imagenet',
            lambda root: write_demo_imagenet(root, {'train': 800, 'val': 200}, size=96, seed=0)),
    'det': ('coco',
            lambda root: write_demo_coco(root, {'train': 800, 'val': 100}, size=160, seed=0)),
}


def make_demo_data(out, tasks, force=False):
    """Write the sets of ``tasks`` under ``out``; returns {task: folder}."""
    written = {}
    for task in tasks:
        folder, writer = DEMO_SETS[task]
        root = Path(out) / folder
        if root.exists() and force:
            shutil.rmtree(root)
        if not root.exists():
            start = time.time()
            writer(root)
            print(f'{task}: wrote {root} in {time.time() - start:.1f} s')
        else:
            print(f'{task}: {root} exists, kept (use --force to write it again)')
        written[task] = root
    return written


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--out', default='data/demo', help='parent folder of the demo sets')
    parser.add_argument('--task', nargs='+', choices=sorted(DEMO_SETS), default=sorted(DEMO_SETS),
                        help='which sets to write (default: all)')
    parser.add_argument('--force', action='store_true', help='rewrite sets that exist')
    args = parser.parse_args()
    make_demo_data(args.out, args.task, args.force)


if __name__ == '__main__':
    main()
