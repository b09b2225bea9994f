"""The segmentation demo set: synthetic scenes written in PASCAL VOC layout, and its mmseg dataset.

Layout written under ``root`` (what mmseg's ``PascalVOCDataset`` reads)::

    JPEGImages/<id>.jpg                  RGB scenes
    SegmentationClass/<id>.png           palette PNGs, pixel = class index (0 background)
    ImageSets/Segmentation/<split>.txt   one <id> per line
"""
from pathlib import Path

import numpy as np
from PIL import Image

from mmseg.datasets import PascalVOCDataset
from mmseg.registry import DATASETS

from ..utils.atomic_io import staged_folder
from .synthetic import CLASSES, render_scene

DEMO_VOC_CLASSES = ('background', ) + CLASSES
# VOC's own colours for the first indices, so the masks look like VOC masks in any viewer.
DEMO_VOC_PALETTE = [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
IMAGE_DIR = 'JPEGImages'
MASK_DIR = 'SegmentationClass'
SPLIT_DIR = 'ImageSets/Segmentation'


@DATASETS.register_module()
class DemoVOCDataset(PascalVOCDataset):
    """The demo's VOC-format set: ``PascalVOCDataset`` with the demo classes.

    Only ``METAINFO`` differs: the stock class maps any ``classes`` override onto VOC's 21 names and
    rejects names that are not among them.
    """
    METAINFO = dict(classes=DEMO_VOC_CLASSES, palette=DEMO_VOC_PALETTE)


def label_map(instances, height, width):
    """Class-index mask of a scene: 0 background, 1 + label where an instance is visible."""
    mask = np.zeros((height, width), np.uint8)
    for inst in instances:
        mask[inst['mask']] = inst['label'] + 1
    return mask


def write_demo_voc(root, splits, size=128, seed=0, jpeg_quality=95):
    """Write the demo set to ``root`` in VOC layout.

    The set is built in ``<root>.partial`` and moved into place at the end, so an interrupted run
    never leaves a set that looks complete. Scene ``i`` of split number ``k`` is rendered from
    ``numpy.random.default_rng((seed, k, i))``, so the output depends only on the arguments.

    Args:
        root (str | Path): Folder to create; must not exist yet.
        splits (dict[str, int]): Number of images per split, e.g. ``{'train': 600, 'val': 100}``.
        size (int | tuple[int, int]): Image side or (height, width).
        seed (int): Seed of the whole set.
        jpeg_quality (int): JPEG quality of the images.

    Returns:
        Path: ``root``.
    """
    flat_palette = [c for colour in DEMO_VOC_PALETTE for c in colour]
    with staged_folder(root) as partial:
        for sub in (IMAGE_DIR, MASK_DIR, SPLIT_DIR):
            (partial / sub).mkdir(parents=True)
        for k, (split, count) in enumerate(splits.items()):
            ids = []
            for i in range(count):
                image, instances = render_scene(np.random.default_rng((seed, k, i)), size)
                name = f'{split}_{i:05d}'
                Image.fromarray(image).save(partial / IMAGE_DIR / f'{name}.jpg',
                                            quality=jpeg_quality)
                mask = Image.fromarray(label_map(instances, *image.shape[:2]))
                # Turns the 'L' image into a 'P' one with the same indices.
                mask.putpalette(flat_palette)
                mask.save(partial / MASK_DIR / f'{name}.png')
                ids.append(name)
            (partial / SPLIT_DIR / f'{split}.txt').write_text('\n'.join(ids) + '\n')
    return Path(root)
