"""Calibration images for post-training quantisation: network inputs made from the config's
train set exactly as the test path makes them (test pipeline, data preprocessor, the
segmentor's resize to the output stride), never from the set the metric is computed on."""
from typing import Iterator, List, Tuple

import torch
from mmengine.config import Config
from torch import Tensor

from .errors import InputError
from .export import eval_pipeline
from .input_checks import leaf_datasets


def _train_dataset_cfg(cfg: Config) -> dict:
    leaves = list(leaf_datasets(cfg.get('train_dataloader', {}).get('dataset')))
    if not leaves:
        raise InputError('int8 calibration reads the config\'s train set, but the config has no '
                         'train_dataloader.dataset')
    dataset = dict(leaves[0])
    dataset['pipeline'] = eval_pipeline(cfg)
    dataset.pop('indices', None)
    return dataset


def calibration_inputs(cfg: Config, model, count: int, shape: Tuple[int, int],
                       batch_size: int = 8) -> List[Tensor]:
    """``count`` network inputs of the config's train set (evenly spread over it), in batches,
    each of spatial size ``shape`` (the exported one), or :class:`InputError`."""
    from mmengine.registry import DATASETS, DefaultScope

    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmengine')):
        try:
            dataset = DATASETS.build(_train_dataset_cfg(cfg))
        except (FileNotFoundError, OSError) as error:
            raise InputError(f'int8 calibration reads the config\'s train set: {error}. Put the '
                             'data in place (or move data_root with --cfg-options).') from error
    if len(dataset) == 0:
        raise InputError('int8 calibration: the config\'s train set is empty')
    count = min(count, len(dataset))
    indices = [round(i * len(dataset) / count) for i in range(count)]
    return list(_batches(dataset, indices, model, shape, batch_size))


def _batches(dataset, indices, model, shape, batch_size) -> Iterator[Tensor]:
    from mmengine.dataset import pseudo_collate
    for start in range(0, len(indices), batch_size):
        batch = pseudo_collate([dataset[i] for i in indices[start:start + batch_size]])
        with torch.no_grad():
            data = model.data_preprocessor(batch, training=False)
        inputs = data['inputs']
        if hasattr(model, 'prepare_test_inputs'):
            inputs, _ = model.prepare_test_inputs(inputs, data['data_samples'])
        if tuple(inputs.shape[2:]) != tuple(shape):
            raise InputError(f'the train images reach the network at {inputs.shape[2]}x'
                             f'{inputs.shape[3]}, the export is {shape[0]}x{shape[1]}: export with '
                             f'--shape {inputs.shape[2]} {inputs.shape[3]}')
        yield inputs
