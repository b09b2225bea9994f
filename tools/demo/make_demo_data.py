"""Write the embedded demo data sets (deterministic synthetic scenes).

    python tools/demo/make_demo_data.py --out data/demo --task seg

Each task writes one sub-folder of ``--out`` (cls: imagenet, seg: voc, det: coco); a folder that
exists already is kept unless ``--force``. The writers are ``mvit3_dense.datasets.write_demo_data``.
"""
import argparse
import time
from pathlib import Path

from mvit3_dense.datasets import DEMO_SETS, write_demo_data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--out', default='data/demo', help='parent folder of the demo sets')
    parser.add_argument('--task', nargs='+', choices=sorted(DEMO_SETS), default=sorted(DEMO_SETS),
                        help='which sets to write (default: all)')
    parser.add_argument('--force', action='store_true', help='rewrite sets that exist')
    args = parser.parse_args(argv)
    for task in args.task:
        kept = (Path(args.out) / DEMO_SETS[task].folder).exists() and not args.force
        start = time.time()
        folder = write_demo_data(args.out, [task], force=args.force)[task]
        if kept:
            print(f'{task}: {folder} exists, kept (use --force to write it again)')
            continue
        images = ', '.join(f'{n} {split}' for split, n in DEMO_SETS[task].splits.items())
        print(f'{task}: {folder} ({images} images) written in {time.time() - start:.1f} s')


if __name__ == '__main__':
    main()
