"""Checks that a config's inputs exist before anything is built: data roots and the files under
them, evaluator annotation files and ``Pretrained`` checkpoints. Each failure is an
:class:`~mvit3_dense.utils.errors.InputError` naming the path, the expected layout and the fix."""
import os.path as osp
import re
from typing import Any, Iterator, List, Sequence

from mmengine.config import Config

from .checkpoint import CONVERTER
from .errors import InputError

# Dataset type -> how to obtain the data, added to the error for a missing data root.
DATA_HINTS = {
    'DemoVOCDataset':
    'write it with: python tools/demo/make_demo_data.py --out data/demo --task seg',
    'PascalVOCDataset': "prepare VOC 2012 + SBD as in mmseg's dataset guide "
                        '(docs/en/user_guides/2_dataset_prepare.md, "Pascal VOC")',
    'ADE20KDataset': "prepare ADEChallengeData2016 as in mmseg's dataset guide "
                     '(docs/en/user_guides/2_dataset_prepare.md, "ADE20K")',
    'ImageNet': "prepare ImageNet-1k as in mmpretrain's dataset guide "
                '(docs/en/user_guides/dataset_prepare.md, "ImageNet"); the demo set: '
                'python tools/demo/make_demo_data.py --out data/demo --task cls',
    'CocoDataset': "prepare COCO 2017 as in mmdet's dataset guide "
                   '(docs/en/user_guides/dataset_prepare.md); the demo set: '
                   'python tools/demo/make_demo_data.py --out data/demo --task det',
}

_REMOTE = re.compile(r'^[a-z][a-z0-9+.-]*://')


def leaf_datasets(node: Any) -> Iterator[dict]:
    """Leaf dataset configs inside a (possibly wrapped: Concat/Repeat/...) dataset config."""
    if isinstance(node, dict):
        if 'datasets' in node:
            for child in node['datasets']:
                yield from leaf_datasets(child)
        elif 'dataset' in node:
            yield from leaf_datasets(node['dataset'])
        else:
            yield node


def _expected_paths(dataset: dict) -> List[str]:
    """What a dataset config expects under its data root: its data_prefix folders and ann_file
    (or, for mmpretrain's ImageNet-style ``split``, the split's folder)."""
    prefix = dataset.get('data_prefix') or {}
    expected = [p for p in (prefix.values() if isinstance(prefix, dict) else [prefix]) if p]
    if dataset.get('ann_file'):
        expected.append(dataset['ann_file'])
    if dataset.get('split') and not expected:
        expected.append(dataset['split'])
    return expected


def check_data(cfg: Config, dataloaders: Sequence[str]) -> None:
    """Fail with a clear message if a dataset of ``dataloaders`` (e.g. ``['train_dataloader']``)
    points at a data root or file that does not exist."""
    for key in dataloaders:
        loader = cfg.get(key)
        if not loader:
            continue
        for dataset in leaf_datasets(loader.get('dataset')):
            root = dataset.get('data_root') or ''
            expected = _expected_paths(dataset)
            if root and _REMOTE.match(root):
                continue
            missing = [p for p in expected if not osp.exists(osp.join(root, p))]
            if (root and not osp.isdir(root)) or missing:
                hint = DATA_HINTS.get(dataset.get('type'), 'see the dataset config for its source')
                layout = ', '.join(expected) or '(no data_prefix / ann_file in the config)'
                what = (f'data root not found: {osp.abspath(root)}' if root and not osp.isdir(root)
                        else f'missing under {osp.abspath(root or ".")}: {", ".join(missing)}')
                raise InputError(
                    f'{key} ({dataset.get("type")}): {what}. Expected layout under the data root: '
                    f'{layout}. To fix: {hint}, or point the config at it with '
                    f'--cfg-options {key}.dataset.data_root=PATH (for wrapped datasets, the '
                    'data_root of each inner dataset).')


def check_evaluator_files(cfg: Config, key: str) -> None:
    """An evaluator's ``ann_file`` (COCO metrics) must exist; when the data root was moved with
    --cfg-options, it still names the old place: say which file the dataset reads instead."""
    evaluators = cfg.get(key)
    for evaluator in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        ann = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
        if not ann or _REMOTE.match(str(ann)) or osp.isfile(ann):
            continue
        loader = key.replace('_evaluator', '_dataloader')
        dataset = next(leaf_datasets((cfg.get(loader) or {}).get('dataset')), None) or {}
        read = osp.join(dataset.get('data_root') or '', dataset.get('ann_file') or '')
        hint = (f'; the {loader} reads {read}: pass --cfg-options {key}.ann_file={read}'
                if dataset.get('ann_file') and osp.isfile(read) else '')
        raise InputError(f'{key}.ann_file not found: {osp.abspath(ann)}{hint}')


def _pretrained_paths(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        init = node.get('init_cfg')
        for item in init if isinstance(init, list) else [init]:
            if (isinstance(item, dict) and item.get('type') == 'Pretrained'
                    and item.get('checkpoint')):
                yield item['checkpoint']
        for value in node.values():
            yield from _pretrained_paths(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _pretrained_paths(value)


def check_pretrained(cfg: Config) -> None:
    """Fail with a clear message if a ``Pretrained`` init_cfg of the model names a missing file."""
    for path in _pretrained_paths(cfg.get('model')):
        if not _REMOTE.match(str(path)) and not osp.isfile(path):
            raise InputError(
                f'pretrained checkpoint not found: {osp.abspath(path)}. Convert the authors\' '
                f'ImageNet checkpoint with: python {CONVERTER} SRC {path} --kind backbone; or pass '
                'another file with --cfg-options model.backbone.init_cfg.checkpoint=PATH, or '
                'train from scratch with --cfg-options model.backbone.init_cfg=None.')


__all__ = ['DATA_HINTS', 'check_data', 'check_evaluator_files', 'check_pretrained',
           'leaf_datasets']
