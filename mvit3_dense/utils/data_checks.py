"""Checks of a config's datasets before a run: data problems are counted and named.

What the libraries would do instead: mmseg reads an empty split as an empty dataset and fails
deep inside the DataLoader; a split naming a missing or empty image fails inside a worker with
a decoder error that does not name the file; mmdet drops COCO boxes under one pixel wide or high
without a word (a set of only such boxes trains on nothing) and an annotation whose category
is not in ``categories`` makes the evaluation report -1. Each problem here is either refused
with the file, the count and an example, or, where the library's convention is to ignore it,
reported once with the counts.
"""
import inspect
import json
import os.path as osp
import sys
from typing import Iterable, List, Optional

from .errors import InputError
from .input_checks import leaf_datasets


def _dataset_class(dataset: dict) -> Optional[type]:
    from mmengine.registry import DATASETS
    kind = dataset.get('type')
    if isinstance(kind, type):
        return kind
    try:
        with DATASETS.switch_scope_and_registry(None) as registry:  # the default scope's
            found = registry.get(kind)
    except Exception:  # noqa: BLE001  unknown types are the Runner's to report
        return None
    return found if isinstance(found, type) else None


def _setting(dataset: dict, cls: type, name: str, fallback):
    """A dataset argument: from the config, else the class's default."""
    if name in dataset:
        return dataset[name]
    for klass in cls.__mro__:
        parameter = inspect.signature(klass.__init__).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return fallback


def _examples(names: List[str], limit: int = 3) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f', ... ({len(names)} in all)' if len(names) > limit else '')


def _warn(message: str) -> None:
    print(f'warning: {message}', file=sys.stderr, flush=True)


def check_segmentation_files(key: str, dataset: dict, cls: type) -> None:
    """An mmseg dataset: its split file lists images (and label maps) that exist and are not
    empty; without a split, the image folder holds no empty file."""
    root = dataset.get('data_root') or ''
    prefix = dataset.get('data_prefix') or {}
    img_dir = osp.join(root, prefix.get('img_path', ''))
    seg_dir = osp.join(root, prefix.get('seg_map_path', '')) if prefix.get('seg_map_path') else None
    img_suffix = _setting(dataset, cls, 'img_suffix', '.jpg')
    seg_suffix = _setting(dataset, cls, 'seg_map_suffix', '.png')
    ann_file = dataset.get('ann_file')
    if ann_file:
        split = osp.join(root, ann_file)
        if not osp.isfile(split):
            return  # reported by check_data
        with open(split, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise InputError(f'{key}: the split file {split} is empty: it names no image. Write '
                             f'one image name per line (without {img_suffix}), or point '
                             f'{key}.dataset.ann_file at another split.')
        images = [osp.join(img_dir, n + img_suffix) for n in names]
        maps = [osp.join(seg_dir, n + seg_suffix) for n in names] if seg_dir else []
    else:
        if not osp.isdir(img_dir):
            return
        images = sorted(osp.join(img_dir, n) for n in _listing(img_dir, img_suffix))
        maps, split = [], None
    missing = [p for p in images if not osp.isfile(p)]
    if missing:
        raise InputError(f'{key}: {len(missing)} of the {len(images)} images named by {split} '
                         f'do not exist (e.g. {_examples(missing)}). Add them, or remove their '
                         'names from the split.')
    missing = [p for p in maps if not osp.isfile(p)]
    if missing:
        raise InputError(f'{key}: {len(missing)} of the {len(maps)} label maps for {split} do '
                         f'not exist (e.g. {_examples(missing)}). Add them, or remove their '
                         'names from the split.')
    empty = [p for p in images + maps if osp.getsize(p) == 0]
    if empty:
        raise InputError(f'{key}: {len(empty)} files are empty (0 bytes): {_examples(empty)}. '
                         'Replace them (an interrupted copy or download?), or remove their names '
                         'from the split.')
    thin = [f'{p} ({w}x{h})' for p, (w, h) in _sizes(images) if min(w, h) < 2]
    if thin:
        raise InputError(f'{key}: {len(thin)} images are one pixel high or wide: '
                         f'{_examples(thin)}; mmseg cannot hold their label maps (it squeezes '
                         'them to fewer dimensions). Remove them from the split.')


def _sizes(paths: List[str]):
    """(path, (width, height)) read from each image's header; undecodable files are skipped
    (the image loader names them)."""
    from PIL import Image
    for path in paths:
        try:
            with Image.open(path) as image:
                yield path, image.size
        except Exception:  # noqa: BLE001  named when loaded
            continue


def _listing(folder: str, suffix: str) -> Iterable[str]:
    import os
    for dirpath, _, files in os.walk(folder):
        for name in files:
            if name.endswith(suffix):
                yield osp.relpath(osp.join(dirpath, name), folder)


def check_coco_annotations(key: str, dataset: dict, training: bool) -> None:
    """A COCO-format dataset: every annotation names a declared category; boxes under one pixel
    (which mmdet drops) are reported with their count, and refused when nothing else is left;
    the images exist and are not empty."""
    root = dataset.get('data_root') or ''
    ann_file = osp.join(root, dataset.get('ann_file') or '')
    if not ann_file.endswith('.json') or not osp.isfile(ann_file):
        return
    try:
        with open(ann_file, encoding='utf-8') as f:
            coco = json.load(f)
    except (OSError, ValueError) as err:
        raise InputError(f'{key}: {ann_file} is not a readable COCO annotation file ({err}); '
                         'write or download it again') from None
    if not isinstance(coco, dict) or not {'images', 'annotations', 'categories'} <= set(coco):
        raise InputError(f'{key}: {ann_file} is not a COCO annotation file (it needs images, '
                         'annotations and categories)')
    categories = {c.get('id') for c in coco['categories']}
    images = {i.get('id'): i for i in coco['images']}
    annotations = [a for a in coco['annotations'] if not a.get('iscrowd', 0)]
    unknown = [a for a in annotations if a.get('category_id') not in categories]
    if unknown:
        ids = sorted({str(a.get('category_id')) for a in unknown})
        raise InputError(
            f'{key}: {ann_file}: {len(unknown)} annotations have category ids not in its '
            f'categories ({_examples(ids)}; declared: {_examples(sorted(map(str, categories)))}). '
            'Add the categories or fix the ids: mmdet would drop these boxes from training and '
            'report -1 for them.')
    tiny = [a for a in annotations if not _box_usable(a.get('bbox'))]
    if tiny:
        first = tiny[0]
        message = (f'{key}: {ann_file}: {len(tiny)} of {len(annotations)} boxes are under one '
                   f'pixel wide or high (e.g. annotation {first.get("id")} of image '
                   f'{first.get("image_id")}: bbox {first.get("bbox")})')
        if len(tiny) == len(annotations) and training:
            raise InputError(message + ': mmdet drops such boxes, and no other box is left to '
                             'train on. Write the boxes as [x, y, width, height] in pixels.')
        _warn(message + '; they are left out, as mmdet does.')
    orphans = [a for a in annotations if a.get('image_id') not in images]
    if orphans:
        _warn(f'{key}: {ann_file}: {len(orphans)} annotations name images not in its images '
              f'(e.g. image id {orphans[0].get("image_id")}); they are left out, as mmdet does.')
    prefix = dataset.get('data_prefix') or {}
    img_dir = osp.join(root, prefix.get('img', '') if isinstance(prefix, dict) else '')
    files = [osp.join(img_dir, i.get('file_name', '')) for i in images.values()]
    missing = [p for p in files if not osp.isfile(p)]
    if missing:
        raise InputError(f'{key}: {len(missing)} of the {len(files)} images of {ann_file} do not '
                         f'exist (e.g. {_examples(missing)}). Check data_root and '
                         'data_prefix.img, or add the images.')
    empty = [p for p in files if osp.getsize(p) == 0]
    if empty:
        raise InputError(f'{key}: {len(empty)} images of {ann_file} are empty (0 bytes): '
                         f'{_examples(empty)}. Replace them, or remove them from the annotations.')


def _box_usable(bbox) -> bool:
    """mmdet's rule (``CocoDataset.parse_data_info``): width and height of at least one pixel."""
    try:
        return len(bbox) == 4 and float(bbox[2]) >= 1 and float(bbox[3]) >= 1
    except (TypeError, ValueError):
        return False


def check_datasets(cfg, loaders: Iterable[str], training: bool) -> None:
    """Run the checks above on the leaf datasets of ``loaders`` (e.g. ``['train_dataloader']``)."""
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope') or 'mmengine')
    try:
        from mmseg.datasets import BaseSegDataset
    except ImportError:  # pragma: no cover - the stack installs it
        BaseSegDataset = None
    try:
        from mmdet.datasets import CocoDataset
    except ImportError:  # pragma: no cover
        CocoDataset = None
    for key in loaders:
        loader = cfg.get(key)
        if not loader:
            continue
        for dataset in leaf_datasets(loader.get('dataset')):
            cls = _dataset_class(dataset)
            if cls is None:
                continue
            if BaseSegDataset is not None and issubclass(cls, BaseSegDataset):
                check_segmentation_files(key, dataset, cls)
            elif CocoDataset is not None and issubclass(cls, CocoDataset):
                check_coco_annotations(key, dataset, training and key == 'train_dataloader')
