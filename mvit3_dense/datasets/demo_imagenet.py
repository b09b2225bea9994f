"""The classification demo set: synthetic one-object images written in ImageNet's layout.

Layout written under ``root`` (what mmpretrain's ``ImageNet`` dataset reads with ``split=...``)::

    train/<class>/<id>.JPEG     training images, one folder per class
    val/<id>.JPEG               validation images, flat as in ImageNet's release
    meta/train.txt, val.txt     "<path under the split folder> <class index>" per line
"""
from pathlib import Path

import numpy as np
from PIL import Image

from ..utils.atomic_io import staged_folder
from .synthetic import CLASSES, render_object


def write_demo_imagenet(root, splits, size=96, seed=0, jpeg_quality=95):
    """Write the demo set to ``root`` in ImageNet layout, with ``CLASSES`` as the classes.

    Image ``i`` of split number ``k`` shows class ``i % len(CLASSES)`` (balanced classes) and is
    rendered from ``numpy.random.default_rng((seed, k, i))``; the set is built in
    ``<root>.partial`` and moved into place at the end, so an interrupted run leaves no set that
    looks complete.

    Args:
        root (str | Path): Folder to create; must not exist yet.
        splits (dict[str, int]): Number of images per split: keys ``train`` (class folders) and/or
            ``val`` (flat folder).
        size (int | tuple[int, int]): Image side or (height, width).
        seed (int): Seed of the whole set.
        jpeg_quality (int): JPEG quality of the images.

    Returns:
        Path: ``root``.
    """
    unknown = set(splits) - {'train', 'val'}
    if unknown:
        raise ValueError(f'splits must be train and/or val (ImageNet layout), got {sorted(unknown)}')
    with staged_folder(root) as partial:
        (partial / 'meta').mkdir()
        for k, (split, count) in enumerate(splits.items()):
            lines = []
            for i in range(count):
                label = i % len(CLASSES)
                image = render_object(np.random.default_rng((seed, k, i)), size, label)
                name = f'{split}_{i:05d}.JPEG'
                path = f'{CLASSES[label]}/{name}' if split == 'train' else name
                (partial / split / path).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(partial / split / path, format='JPEG',
                                            quality=jpeg_quality)
                lines.append(f'{path} {label}')
            (partial / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return Path(root)
