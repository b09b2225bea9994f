"""The detection demo set: synthetic scenes written in COCO layout, read by mmdet's ``CocoDataset``.

Layout written under ``root``::

    <split>/<id>.jpg                     RGB scenes
    annotations/instances_<split>.json   COCO instances: images, annotations, categories

Each visible object becomes one annotation: its box is the box of its visible pixels (so objects cut
by the border or partly hidden get the box a labeller would draw), its ``area`` the number of those
pixels, which sets COCO's small / medium / large breakdown.
"""
import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..utils.atomic_io import staged_folder
from .synthetic import CLASSES, render_scene

ANNOTATION_DIR = 'annotations'


def annotation_file(split):
    """Path of a split's instances file, relative to the set's root."""
    return f'{ANNOTATION_DIR}/instances_{split}.json'


def coco_instances(scenes, classes=CLASSES):
    """COCO ``instances`` dict of rendered scenes.

    Args:
        scenes (Iterable[tuple[str, int, int, list[dict]]]): per image, its file name, height, width
            and instances as :func:`render_scene` returns them (``label``, ``mask``, ``bbox``).
        classes (Sequence[str]): class names; category ids are 1 + label.

    Returns:
        dict: with ``images``, ``annotations`` and ``categories``.
    """
    images, annotations = [], []
    for image_id, (file_name, height, width, instances) in enumerate(scenes, start=1):
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
        for inst in instances:
            x1, y1, x2, y2 = inst['bbox']
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=inst['label'] + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=float(inst['mask'].sum()),
                    iscrowd=0))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(classes)]
    return dict(images=images, annotations=annotations, categories=categories)


def write_demo_coco(root, splits, size=160, seed=0, jpeg_quality=95):
    """Write the demo set to ``root`` in COCO layout.

    The set is built in ``<root>.partial`` and moved into place at the end, so an interrupted run
    never leaves a set that looks complete. Scene ``i`` of split number ``k`` is rendered from
    ``numpy.random.default_rng((seed, k, i))``, so the output depends only on the arguments.

    Args:
        root (str | Path): Folder to create; must not exist yet.
        splits (dict[str, int]): Number of images per split, e.g. ``{'train': 800, 'val': 100}``.
        size (int | tuple[int, int]): Image side or (height, width).
        seed (int): Seed of the whole set.
        jpeg_quality (int): JPEG quality of the images.

    Returns:
        Path: ``root``.
    """
    with staged_folder(root) as partial:
        (partial / ANNOTATION_DIR).mkdir()
        for k, (split, count) in enumerate(splits.items()):
            (partial / split).mkdir()
            scenes = []
            for i in range(count):
                image, instances = render_scene(np.random.default_rng((seed, k, i)), size)
                file_name = f'{split}_{i:05d}.jpg'
                Image.fromarray(image).save(partial / split / file_name, quality=jpeg_quality)
                scenes.append((file_name, image.shape[0], image.shape[1], instances))
            with open(partial / annotation_file(split), 'w') as f:
                json.dump(coco_instances(scenes), f)
    return Path(root)
