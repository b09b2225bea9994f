from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

import mvit3_dense  # noqa: F401  (registers the dataset types and transforms)
from mmengine.dataset import DefaultSampler
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mvit3_dense.datasets.variable_batch import (VariableBatchSampler,
                                                 VariableRandomResizedCrop,
                                                 VariableScaleDataset, scale_batch_pairs)

# Small table for the sampler tests: one round of pairs holds 16 + 4 + 4 = 24 samples, so a few
# hundred items span several rounds and leave a remainder.
SMALL = dict(base_size=64, min_size=32, max_size=96, num_scales=3, size_divisor=32)
SMALL_PAIRS = [(32, 32, 16), (64, 64, 4), (96, 96, 4)]


class _Items:

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


def _sampler(n, seed=0, batch_size=4, **kwargs):
    inner = DefaultSampler(_Items(n), shuffle=True, seed=seed)
    return VariableBatchSampler(inner, batch_size, seed=seed, **{**SMALL, **kwargs})


def _epoch(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


def test_pairs_match_reference_table():
    assert scale_batch_pairs(base_size=256, base_batch=32, min_size=160, max_size=320,
                             num_scales=5, size_divisor=32) == [
                                 (160, 160, 81), (192, 192, 56), (256, 256, 32), (288, 288, 32),
                                 (320, 320, 32)]
    assert scale_batch_pairs() == scale_batch_pairs((256, 256), 32, (160, 160), (320, 320))


def test_pairs_batch_divisor():
    # 160: 256*256*32 / 160^2 = 81.92 -> 81; nearest multiple of 8 is 80 (>= 90 % of 81).
    # 192: 256*256*32 / 192^2 = 56.89 -> 56, already a multiple of 8.
    pairs = scale_batch_pairs(batch_divisor=8)
    assert pairs[:2] == [(160, 160, 80), (192, 192, 56)]
    assert all(batch % 8 == 0 for _, _, batch in pairs)


def test_pairs_rectangular_and_base_off_grid():
    # 224 is not on the 160..320 grid of 5 sizes; it is added and rounded like the others.
    pairs = scale_batch_pairs(base_size=(224, 224), base_batch=16, min_size=(160, 128),
                              max_size=(320, 256), num_scales=3)
    assert (224, 224, 16) in pairs
    assert (160, 128, 39) in pairs  # 224*224*16 / (160*128) = 39.2


@pytest.mark.parametrize('kwargs, word', [
    (dict(min_size=300), 'min_size'),
    (dict(max_size=200), 'max_size'),
    (dict(num_scales=0), 'num_scales'),
    (dict(base_batch=0), 'base_batch'),
    (dict(size_divisor=0), 'size_divisor'),
    (dict(min_size=(160, 160, 3)), 'min_size'),
])
def test_pairs_reject_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        scale_batch_pairs(**kwargs)


def test_sampler_rejects_bad_batch_size():
    with pytest.raises(ValueError, match='batch_size'):
        VariableBatchSampler(DefaultSampler(_Items(10), seed=0), 0, seed=0)


def test_sampler_epochs_are_full_fixed_and_cover_every_index():
    sampler = _sampler(203)
    assert sampler.pairs == SMALL_PAIRS
    # 8 rounds hold 192 samples; one more batch of 16 covers 203.
    assert len(sampler) == 25
    sizes_per_epoch = []
    for epoch in range(4):
        batches = _epoch(sampler, epoch)
        assert len(batches) == len(sampler)
        seen = set()
        sizes = []
        for batch in batches:
            sizes_in_batch = {hw for _, hw in batch}
            assert len(sizes_in_batch) == 1
            size = sizes_in_batch.pop()
            height, width = size
            assert (height, width, len(batch)) in SMALL_PAIRS
            seen.update(index for index, _ in batch)
            sizes.append(size)
        assert seen == set(range(203))
        counts = Counter(sizes)
        assert counts == {(32, 32): 9, (64, 64): 8, (96, 96): 8}
        sizes_per_epoch.append(sizes)
    assert len({tuple(sizes) for sizes in sizes_per_epoch}) > 1


def test_sampler_default_table_fills_short_batch_from_start():
    inner = DefaultSampler(_Items(203), shuffle=False, seed=0)
    sampler = VariableBatchSampler(inner, 32, seed=0)
    # 81 + 56 + 32 + 32 = 201 < 203, so a fifth batch (32) is needed.
    assert len(sampler) == 5
    flat = [index for batch in sampler for index, _ in batch]
    assert len(flat) == 81 + 56 + 32 * 3
    assert flat[:203] == list(range(203))
    assert flat[203:] == list(range(len(flat) - 203))


def test_sampler_same_seed_same_sequence():
    assert _epoch(_sampler(150, seed=3), 2) == _epoch(_sampler(150, seed=3), 2)
    assert _epoch(_sampler(150, seed=3), 2) != _epoch(_sampler(150, seed=4), 2)


def test_sampler_follows_epoch_set_on_wrapped_sampler():
    # mmengine's loop sets the epoch on ``batch_sampler.sampler``, not on the batch sampler.
    sampler, reference = _sampler(150), _sampler(150)
    sampler.sampler.set_epoch(5)
    assert list(sampler) == _epoch(reference, 5)


def test_sampler_ranks_share_sizes_and_split_indices(monkeypatch):
    epochs = {}
    for rank in range(2):
        monkeypatch.setattr('mmengine.dataset.sampler.get_dist_info', lambda r=rank: (r, 2))
        sampler = _sampler(204, seed=7)
        assert sampler.sampler.rank == rank
        epochs[rank] = _epoch(sampler, 1)
    sizes = {rank: [batch[0][1] for batch in batches] for rank, batches in epochs.items()}
    assert sizes[0] == sizes[1]
    indices = {rank: {i for batch in batches for i, _ in batch} for rank, batches in epochs.items()}
    assert indices[0].isdisjoint(indices[1])
    assert indices[0] | indices[1] == set(range(204))


@pytest.fixture
def image_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in ('cat', 'dog'):
        (tmp_path / label).mkdir()
        for i in range(12):
            pixels = rng.integers(0, 256, (40 + 4 * i, 56, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / label / f'{i}.jpg')
    return tmp_path


def _dataset_cfg(root):
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='VariableRandomResizedCrop', scale=64),
        dict(type='PackInputs'),
    ]
    return dict(type='CustomDataset', data_root=str(root), pipeline=pipeline)


def test_dataloader_end_to_end(image_folder):
    cfg = dict(
        batch_size=4,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_sampler=dict(type='VariableBatchSampler', **SMALL),
        dataset=dict(type='VariableScaleDataset', dataset=_dataset_cfg(image_folder)),
        collate_fn=dict(type='default_collate'))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(cfg, seed=0)
        assert isinstance(loader.dataset, VariableScaleDataset)
        assert loader.dataset.metainfo['classes'] == ('cat', 'dog')
        assert len(loader.dataset) == 24
        batches = list(loader)
    # 24 items make exactly one round of the table: one batch of each pair.
    assert len(batches) == len(loader) == 3
    shapes = []
    for batch in batches:
        inputs = batch['inputs']
        assert isinstance(inputs, torch.Tensor) and inputs.dtype == torch.uint8
        n, channels, height, width = inputs.shape
        assert channels == 3 and len(batch['data_samples']) == n
        shapes.append((height, width, n))
    assert sorted(shapes) == SMALL_PAIRS


def test_wrapper_int_index_uses_transform_scale(image_folder):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        dataset = VariableScaleDataset(_dataset_cfg(image_folder))
        assert dataset[0]['inputs'].shape == (3, 64, 64)
        assert dataset[(0, (32, 96))]['inputs'].shape == (3, 32, 96)
        # Attributes the wrapper lacks come from the inner dataset.
        assert dataset.data_root == str(image_folder)


def test_transform_output_size():
    img = np.zeros((50, 70, 3), np.uint8)
    transform = VariableRandomResizedCrop(scale=(48, 40))
    assert transform(dict(img=img))['img'].shape == (48, 40, 3)
    assert transform(dict(img=img, crop_size=(24, 56)))['img_shape'] == (24, 56, 3)
