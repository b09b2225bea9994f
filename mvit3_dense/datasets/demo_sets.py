"""The three embedded demo sets in one place: which folder, how many images, which writer.

``configs/demo/*`` read ``data/demo/<folder>``; :func:`write_demo_data` writes the sets of some
tasks under one parent folder, :func:`write_demo_set` one set at the exact folder a config names
(``tools/demo/run_demo.py`` uses it for a config's ``data_root``).
"""
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Union

from .demo_coco import write_demo_coco
from .demo_imagenet import write_demo_imagenet
from .demo_voc import write_demo_voc


@dataclass(frozen=True)
class DemoSet:
    """One demo set: its folder name under the parent, images per split, image side."""
    folder: str
    splits: Dict[str, int]
    size: int
    writer: Callable[..., Path]

    def write(self, root: Union[str, Path], seed: int = 0) -> Path:
        return self.writer(root, dict(self.splits), size=self.size, seed=seed)


# task -> set; the sizes are those the demo configs (configs/demo/*) were tuned for.
DEMO_SETS: Dict[str, DemoSet] = {
    'cls': DemoSet('imagenet', {'train': 800, 'val': 200}, 96, write_demo_imagenet),
    'seg': DemoSet('voc', {'train': 600, 'val': 100}, 128, write_demo_voc),
    'det': DemoSet('coco', {'train': 800, 'val': 100}, 160, write_demo_coco),
}


def _demo_set(task: str) -> DemoSet:
    if task not in DEMO_SETS:
        raise ValueError(f'unknown demo task {task!r}; choose from {sorted(DEMO_SETS)}')
    return DEMO_SETS[task]


def count_images(task: str, root: Union[str, Path]) -> Dict[str, int]:
    """Images per split of the demo set of ``task`` at ``root``, read from its split lists
    (VOC: ``ImageSets/Segmentation/<split>.txt``, ImageNet: ``meta/<split>.txt``, COCO: the
    ``images`` of ``annotations/instances_<split>.json``)."""
    root, counts = Path(root), {}
    for split in _demo_set(task).splits:
        if task == 'det':
            path = root / 'annotations' / f'instances_{split}.json'
            if path.is_file():
                counts[split] = len(json.loads(path.read_text())['images'])
            continue
        path = root / ('ImageSets/Segmentation' if task == 'seg' else 'meta') / f'{split}.txt'
        if path.is_file():
            counts[split] = sum(1 for line in path.read_text().splitlines() if line.strip())
    return counts


def write_demo_set(task: str, root: Union[str, Path], *, force: bool = False) -> bool:
    """Write the demo set of ``task`` ('cls', 'seg' or 'det') at ``root``.

    A folder that exists already is kept unless ``force``. Returns whether the set was written.
    """
    demo_set, root = _demo_set(task), Path(root)
    if root.exists() and force:
        shutil.rmtree(root)
    if root.exists():
        return False
    root.parent.mkdir(parents=True, exist_ok=True)
    demo_set.write(root)
    return True


def write_demo_data(root: Union[str, Path], tasks: Iterable[str] = tuple(DEMO_SETS), *,
                    force: bool = False) -> Dict[str, Path]:
    """Write the demo sets of ``tasks`` under ``root`` (``root/imagenet``, ``root/voc``,
    ``root/coco``); folders that exist are kept unless ``force``. Returns {task: folder}."""
    written = {}
    for task in tasks:
        folder = Path(root) / _demo_set(task).folder
        write_demo_set(task, folder, force=force)
        written[task] = folder
    return written


__all__ = ['DEMO_SETS', 'DemoSet', 'count_images', 'write_demo_data', 'write_demo_set']
