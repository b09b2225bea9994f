"""Multi-scale training with a batch size that follows the crop size (MobileViT's recipe).

Three pieces cooperate; a training dataloader config uses all of them::

    train_dataloader = dict(
        batch_size=32,  # per-GPU batch at the base size
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='VariableBatchSampler', base_size=256, min_size=160,
                           max_size=320, num_scales=5, size_divisor=32),
        dataset=dict(type='VariableScaleDataset', dataset=dict(
            type='ImageNet', ...,
            pipeline=[..., dict(type='VariableRandomResizedCrop', scale=256), ...])),
        collate_fn=dict(type='default_collate'))

* :class:`VariableBatchSampler` yields batches of ``(index, (h, w))`` with one size per batch;
* :class:`VariableScaleDataset` hands ``(h, w)`` to the pipeline as ``results['crop_size']``;
* :class:`VariableRandomResizedCrop` resizes its random crop to that size.
"""
import copy
from numbers import Real

import mmcv
import numpy as np
import torch
from torch.utils.data import Sampler

from mmengine.dataset import force_full_init
from mmengine.dist import all_reduce, sync_random_seed
from mmengine.logging import print_log
from mmengine.registry import DATA_SAMPLERS, DATASETS
from mmpretrain.datasets.transforms import RandomResizedCrop
from mmpretrain.registry import TRANSFORMS

from ..models.layers.utils import make_divisible

# Pipeline key through which the wrapper tells the crop transform its output size.
CROP_SIZE_KEY = 'crop_size'


def _as_hw(size, name):
    """Return ``size`` (an int or an (h, w) pair) as a tuple of two positive numbers."""
    if isinstance(size, Real):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2 or min(size) <= 0:
        raise ValueError(f'{name} must be a positive int or an (h, w) pair of positive ints, '
                         f'got {size!r}; e.g. {name}=256 or {name}=(256, 256)')
    return size


def _check_positive_int(value, name, hint):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}; {hint}')


def _check_size_order(min_size, base_size, max_size):
    for axis, (low, base, high) in enumerate(zip(min_size, base_size, max_size)):
        dim = 'height' if axis == 0 else 'width'
        if low > base:
            raise ValueError(f'min_size {min_size} exceeds base_size {base_size} in {dim}; '
                             'lower min_size or raise base_size')
        if base > high:
            raise ValueError(f'base_size {base_size} exceeds max_size {max_size} in {dim}; '
                             'raise max_size or lower base_size')


def _batch_for_size(height, width, base_area_batch, base_batch, batch_divisor):
    """Batch that holds about as many pixels as the base batch, never below the base batch."""
    # Rounding to two decimals before ``int`` reproduces the reference table bit for bit.
    batch = max(base_batch, int(round(base_area_batch / (height * width), 2)))
    return make_divisible(batch, batch_divisor)


def scale_batch_pairs(base_size=(256, 256), base_batch=32, min_size=(160, 160),
                      max_size=(320, 320), num_scales=5, size_divisor=32, batch_divisor=1):
    """Table of crop sizes and matching batch sizes for multi-scale training.

    ``num_scales`` sizes are spaced evenly from ``min_size`` to ``max_size`` (both ends included),
    ``base_size`` is added when it is not among them, and every side is rounded to a multiple of
    ``size_divisor`` with :func:`make_divisible`. Each size gets the batch that keeps the pixel
    count of ``base_batch`` images at ``base_size`` (never fewer than ``base_batch`` images),
    rounded to a multiple of ``batch_divisor``. This is the table of MobileViT's variable batch
    sampler, except that the base size is added as an (h, w) pair, so a base that is on the grid
    along one side only is still kept.

    Args:
        base_size (int | tuple[int, int]): Size (h, w) that ``base_batch`` refers to.
        base_batch (int): Batch size at ``base_size``.
        min_size (int | tuple[int, int]): Smallest crop size.
        max_size (int | tuple[int, int]): Largest crop size.
        num_scales (int): Number of evenly spaced sizes before the base size is added.
        size_divisor (int): Every side is rounded to a multiple of this.
        batch_divisor (int): Every batch is rounded to a multiple of this.

    Returns:
        list[tuple[int, int, int]]: Sorted, distinct ``(h, w, batch)`` triples.
    """
    base_size = _as_hw(base_size, 'base_size')
    min_size = _as_hw(min_size, 'min_size')
    max_size = _as_hw(max_size, 'max_size')
    _check_size_order(min_size, base_size, max_size)
    _check_positive_int(num_scales, 'num_scales', 'use 1 for the min size and the base size only')
    _check_positive_int(base_batch, 'base_batch', 'pass the batch size at base_size')
    _check_positive_int(size_divisor, 'size_divisor', 'use 1 to keep sizes unrounded')
    _check_positive_int(batch_divisor, 'batch_divisor', 'use 1 to keep batches unrounded')

    heights = np.linspace(min_size[0], max_size[0], num_scales).tolist()
    widths = np.linspace(min_size[1], max_size[1], num_scales).tolist()
    sizes = list(zip(heights, widths))
    if base_size not in sizes:
        sizes.append(base_size)

    base_area_batch = base_size[0] * base_size[1] * base_batch
    pairs = set()
    for height, width in sizes:
        height = int(make_divisible(height, size_divisor))
        width = int(make_divisible(width, size_divisor))
        batch = _batch_for_size(height, width, base_area_batch, base_batch, batch_divisor)
        pairs.add((height, width, int(batch)))
    return sorted(pairs)


def _max_over_ranks(value):
    """Largest ``value`` over all ranks (``value`` itself outside distributed runs)."""
    tensor = torch.tensor(value, dtype=torch.int64)
    all_reduce(tensor, op='max')
    return int(tensor.item())


def _cycle_pairs(pairs, num_samples):
    """Repeat the pairs in table order until their batches hold ``num_samples`` samples."""
    schedule, capacity = [], 0
    while capacity < num_samples:
        pair = pairs[len(schedule) % len(pairs)]
        schedule.append(pair)
        capacity += pair[2]
    return schedule


@DATA_SAMPLERS.register_module()
class VariableBatchSampler(Sampler):
    """Batch sampler whose batches change crop size and batch size together.

    Each batch is a list of ``(index, (h, w))``: dataset indices from ``sampler`` and the crop
    size every sample of the batch is to be resized to (see :class:`VariableScaleDataset`). Sizes
    and batch sizes come from :func:`scale_batch_pairs`, with ``batch_size`` as the batch at
    ``base_size``.

    Relation to the sampler of MobileViT's authors (``VariableBatchSamplerDDP`` in CVNets): the
    table of (h, w, batch) is the same, batches walk the shuffled per-rank indices, and a batch
    that runs past the end of them is filled from their start, so every batch is full and every
    index is seen at least once per epoch. It differs in how pairs are drawn: the authors draw an
    independent random pair for each batch, so the number of batches per epoch varies; here every
    epoch uses a fixed multiset of pairs (the table, repeated in order until the batches hold
    ``len(sampler)`` samples, so every pair is used equally often give or take one) in a random
    order. The epoch length is therefore fixed and known in advance, which mmengine needs to turn
    epoch-based schedules into iterations with ``len(train_dataloader)``. As the order is random,
    the batches after the one that runs past the end take their indices from the start as well;
    fewer samples than the largest batch are repeated per epoch.

    All ranks draw the same order of sizes, so their steps take about the same time; the order is
    reshuffled every epoch from ``seed`` and the epoch.

    Args:
        sampler (Sampler): Sampler of dataset indices with ``__len__``, e.g. mmengine's
            ``DefaultSampler`` (which shards by rank and shuffles).
        batch_size (int): Per-GPU batch size at ``base_size``.
        base_size (int | tuple[int, int]): Crop size (h, w) of ``batch_size``.
            Defaults to 256.
        min_size (int | tuple[int, int]): Smallest crop size. Defaults to 160.
        max_size (int | tuple[int, int]): Largest crop size. Defaults to 320.
        num_scales (int): Number of evenly spaced crop sizes. Defaults to 5.
        size_divisor (int): Crop sides are rounded to a multiple of this. Defaults to 32.
        batch_divisor (int): Batch sizes are rounded to a multiple of this. Defaults to 1.
        seed (int, optional): Seed of the size order; must be the same on all ranks. Defaults
            to None, which draws one seed and shares it across ranks.
    """

    def __init__(self, sampler, batch_size, base_size=256, min_size=160, max_size=320,
                 num_scales=5, size_divisor=32, batch_divisor=1, seed=None):
        super().__init__()
        _check_positive_int(batch_size, 'batch_size',
                            'set the dataloader batch_size to the per-GPU batch at base_size')
        if not hasattr(sampler, '__len__'):
            raise TypeError(f'{type(sampler).__name__} has no length, but VariableBatchSampler '
                            'needs one to fix the epoch length; use DefaultSampler instead')
        self.sampler = sampler
        self.batch_size = batch_size
        self.pairs = scale_batch_pairs(base_size, batch_size, min_size, max_size, num_scales,
                                       size_divisor, batch_divisor)
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        # Ranks may hold one index more or less (``round_up=False``); size the epoch for the
        # largest so that every rank runs the same number of steps.
        self.num_samples = _max_over_ranks(len(sampler))
        self._schedule = _cycle_pairs(self.pairs, self.num_samples)
        print_log(f'VariableBatchSampler: {len(self._schedule)} batches per epoch over '
                  f'(h, w, batch) = {self.pairs}', logger='current')

    def _current_epoch(self):
        # mmengine's loop and DistSamplerSeedHook call ``batch_sampler.sampler.set_epoch`` and
        # never this sampler's own, so the wrapped sampler's epoch is the one that advances.
        return getattr(self.sampler, 'epoch', self.epoch)

    def _epoch_schedule(self, epoch):
        """The epoch's pairs in their shuffled order; identical on every rank."""
        generator = torch.Generator()
        # Mixed rather than added so that the order is not tied to DefaultSampler's seed + epoch.
        generator.manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
        order = torch.randperm(len(self._schedule), generator=generator).tolist()
        return [self._schedule[i] for i in order]

    def __iter__(self):
        indices = list(self.sampler)
        if not indices:
            return
        position = 0
        for height, width, batch in self._epoch_schedule(self._current_epoch()):
            # Past the end, keep taking indices from the start so that the batch is full.
            yield [(indices[(position + k) % len(indices)], (height, width))
                   for k in range(batch)]
            position += batch

    def __len__(self):
        return len(self._schedule)

    def set_epoch(self, epoch):
        """Set the epoch of this sampler and of the wrapped one, which reshuffles both.

        Args:
            epoch (int): Epoch number.
        """
        self.epoch = epoch
        if hasattr(self.sampler, 'set_epoch'):
            self.sampler.set_epoch(epoch)


@DATASETS.register_module()
class VariableScaleDataset:
    """Dataset wrapper that lets a batch sampler choose each sample's crop size.

    An index ``(i, (h, w))`` from :class:`VariableBatchSampler` runs the inner pipeline on sample
    ``i`` with ``results['crop_size'] = (h, w)``, which :class:`VariableRandomResizedCrop` turns
    into its output size. A plain int index returns the inner dataset's item unchanged. Other
    attributes are read from the inner dataset.

    Args:
        dataset (BaseDataset | dict): The dataset or its config. It needs ``get_data_info`` and
            ``pipeline``, as mmengine's ``BaseDataset`` has.
        lazy_init (bool): Whether to defer ``full_init``. Defaults to False.
    """

    def __init__(self, dataset, lazy_init=False):
        if isinstance(dataset, dict):
            dataset = DATASETS.build(dataset)
        if not (hasattr(dataset, 'get_data_info') and hasattr(dataset, 'pipeline')):
            raise TypeError(f'VariableScaleDataset needs a dataset with get_data_info and '
                            f'pipeline (e.g. a BaseDataset), got {type(dataset).__name__}')
        self.dataset = dataset
        self._metainfo = dataset.metainfo
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self):
        """dict: Meta information of the inner dataset (a copy)."""
        return copy.deepcopy(self._metainfo)

    def full_init(self):
        """Fully initialize the inner dataset (load its annotations)."""
        if self._fully_initialized:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self._fully_initialized = True

    @force_full_init
    def __len__(self):
        return len(self.dataset)

    @force_full_init
    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            index, crop_size = idx
            return self._prepare_at_size(index, crop_size)
        return self.dataset[idx]

    def _prepare_at_size(self, index, crop_size):
        """Run the inner pipeline on sample ``index`` with the crop size in its results."""
        height, width = crop_size
        # Like BaseDataset.__getitem__: a sample that the pipeline rejects (e.g. a broken image)
        # is replaced by a random one, at the same size so that the batch still stacks.
        for _ in range(getattr(self.dataset, 'max_refetch', 0) + 1):
            data_info = self.dataset.get_data_info(index)
            data_info[CROP_SIZE_KEY] = (int(height), int(width))
            data = self.dataset.pipeline(data_info)
            if data is not None:
                return data
            index = np.random.randint(0, len(self.dataset))
        raise RuntimeError(f'The pipeline returned None for every sample tried at crop size '
                           f'{crop_size}; check the image files and the pipeline')

    def __getattr__(self, name):
        # Only called for names the wrapper lacks. Private and dunder names are not forwarded so
        # that pickling (before ``dataset`` exists) and torch's optional hooks such as
        # ``__getitems__`` see the wrapper itself rather than the inner dataset.
        if name.startswith('_') or 'dataset' not in self.__dict__:
            raise AttributeError(f'{type(self).__name__} has no attribute {name!r}')
        return getattr(self.__dict__['dataset'], name)


@TRANSFORMS.register_module()
class VariableRandomResizedCrop(RandomResizedCrop):
    """``RandomResizedCrop`` whose output size can be chosen per sample.

    The crop is sampled exactly as by the parent; it is resized to ``results['crop_size']`` (h, w)
    when that key is present (set by :class:`VariableScaleDataset`) and to ``scale`` otherwise.

    **Required Keys:**

    - img
    - crop_size (optional)

    **Modified Keys:**

    - img
    - img_shape

    Args:
        scale (int | tuple[int, int]): Output size (h, w) when ``crop_size`` is absent.
        **kwargs: Other arguments of ``RandomResizedCrop``.
    """

    def _output_size(self, results):
        height, width = results.get(CROP_SIZE_KEY, self.scale)
        return int(height), int(width)

    def transform(self, results):
        """Crop a random region and resize it to the sample's crop size.

        Args:
            results (dict): Result dict holding ``img``.

        Returns:
            dict: ``results`` with the resized crop in ``img`` and its shape in ``img_shape``.
        """
        img = results['img']
        top, left, crop_h, crop_w = self.rand_crop_params(img)
        box = np.array([left, top, left + crop_w - 1, top + crop_h - 1])
        img = mmcv.imcrop(img, bboxes=box)
        out_h, out_w = self._output_size(results)
        img = mmcv.imresize(img, (out_w, out_h), interpolation=self.interpolation,
                            backend=self.backend)
        results['img'] = img
        results['img_shape'] = img.shape
        return results
