"""The MobileViTv1 / MobileViTv2 configs (configs/mobilevitv1, configs/mobilevitv2) and the paper's
ablation on the demo data (configs/ablation): the set of files, each family's input convention,
the recipes of Apple's yamls, the classifiers' counts, and the ablation rows' block switches,
counts and one training iteration.
"""
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.runner import Runner

from mvit3_dense.datasets import write_demo_imagenet
from mvit3_dense.models.layers import BLOCK_PRESETS, MobileViTBlock
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from .test_family_params import read_table

CONFIGS = REPO_ROOT / 'configs'
WIDTHS = ('0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '2.0')
V1_CONFIGS = [f'{kind}_mobilevitv1-{v}_{run}.py' for kind, run in (
    ('deeplabv3', '4xb32-50e_voc12aug-512x512'), ('ssdlite', '4xb32-200e_coco-320x320'))
    for v in ('xxs', 'xs', 's')]
V2_CONFIGS = [f'{kind}_mobilevitv2-{w}_{run}.py' for w in WIDTHS for kind, run in (
    ('deeplabv3', '4xb32-50e_voc12aug-512x512'), ('deeplabv3', '4xb4-120e_ade20k-512x512'),
    ('ssdlite', '4xb32-200e_coco-320x320'))] + \
    [f'mobilevitv2-{w}_8xb128-300e_in1k.py' for w in WIDTHS]
ALL = [('mobilevitv1', n) for n in V1_CONFIGS] + [('mobilevitv2', n) for n in V2_CONFIGS]


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_the_config_folders_hold_these_configs():
    for folder, names in (('mobilevitv1', V1_CONFIGS), ('mobilevitv2', V2_CONFIGS)):
        assert sorted(p.name for p in (CONFIGS / folder).glob('*.py')) == sorted(names)


def pipelines(cfg):
    """Every pipeline that feeds images to the model: training and evaluation."""
    found = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[key]['dataset']
        inner = dataset.get('datasets') or [dataset.get('dataset', dataset)]
        found += [d['pipeline'] for d in inner]
    return found


@pytest.mark.parametrize('folder,name', ALL, ids=[n for _, n in ALL])
def test_each_config_follows_its_familys_input_convention(folder, name):
    cfg = Config.fromfile(CONFIGS / folder / name)
    v2 = folder == 'mobilevitv2'
    assert cfg.model.backbone.arch.startswith(folder + '-')
    preprocessor = cfg.model.data_preprocessor
    # v1: cv2's BGR fed as it is; v2: Pillow's RGB (mmcv hands it on as BGR, hence the swap).
    swap = preprocessor.get('to_rgb', preprocessor.get('bgr_to_rgb'))
    assert swap is v2
    assert list(preprocessor.mean) == [0., 0., 0.] and list(preprocessor.std) == [255.] * 3
    for pipeline in pipelines(cfg):
        load = pipeline[0]
        assert load['type'] == 'LoadImageFromFile'
        assert load.get('imdecode_backend', 'cv2') == ('pillow' if v2 else 'cv2')
        for step in pipeline:
            if 'Resize' in step['type'] or step['type'] == 'ResizeEdge':
                assert step.get('backend', 'cv2') == ('pillow' if v2 else 'cv2'), step
                assert step.get('interpolation', 'bilinear') == ('bicubic' if v2 else 'bilinear')


# Apple's yamls (ml-cvnets d38a116 config/{segmentation,detection}/*.yaml and 84d992f
# config/{classification/imagenet,segmentation/*,detection/ssd_coco}/*.yaml): images per GPU,
# optimiser, learning rate, weight decay and whether norms and biases are exempt from it.
RECIPES = {
    'deeplabv3_mobilevitv1': (32, 'AdamW', 0.0009, 0.01, False, 4150),
    'ssdlite_mobilevitv1': (32, 'AdamW', 0.0009, 0.01, False, None),
    'deeplabv3_mobilevitv2-voc': (32, 'AdamW', 0.0005, 0.05, True, 4150),
    'deeplabv3_mobilevitv2-ade20k': (4, 'SGD', 0.02, 1e-4, True, 151680),
    'ssdlite_mobilevitv2': (32, 'AdamW', 0.0009, 0.05, False, None),
    'mobilevitv2': (128, 'AdamW', 0.002, 0.05, True, None),
}


def recipe_key(name):
    key = name.split('-')[0]
    if key == 'deeplabv3_mobilevitv2':
        key += '-ade20k' if 'ade20k' in name else '-voc'
    return key


@pytest.mark.parametrize('folder,name', ALL, ids=[n for _, n in ALL])
def test_each_config_has_apples_recipe(folder, name):
    cfg = Config.fromfile(CONFIGS / folder / name)
    batch, optimizer, lr, decay, exempt, iterations = RECIPES[recipe_key(name)]
    gpus, per_gpu = map(int, re.search(r'_(\d+)xb(\d+)-', name).groups())
    assert cfg.train_dataloader.batch_size == per_gpu == batch
    assert cfg.auto_scale_lr.base_batch_size == gpus * batch
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.weight_decay) == (optimizer, lr, decay)
    paramwise = cfg.optim_wrapper.get('paramwise_cfg', {})
    assert (paramwise.get('norm_decay_mult') == 0.) is exempt
    assert (paramwise.get('bias_decay_mult') == 0.) is exempt
    if iterations is not None:  # iteration-based schedules: the epochs at this total batch
        assert cfg.train_cfg.max_iters == iterations
        assert cfg.param_scheduler[-1].end == iterations
    if name.startswith('deeplabv3_mobilevitv1'):  # the yaml's lr_multiplier 10 on the head
        assert cfg.optim_wrapper.paramwise_cfg.custom_keys.decode_head.lr_mult == 10.


CLASSIFIERS = [r for r in read_table('params.tsv') if r['variant'].startswith('MobileViTv2')]


@pytest.mark.parametrize('row', CLASSIFIERS, ids=[r['variant'] for r in CLASSIFIERS])
def test_mobilevitv2_classifier_counts_match_apple(row):
    width = row['variant'].split('-')[-1]
    model, _ = build_model_from_config(CONFIGS / 'mobilevitv2' /
                                       f'mobilevitv2-{width}_8xb128-300e_in1k.py')
    assert count(model) == int(row['params_total'])
    assert count(model.head) == int(row['classifier_params'])
    assert count(model.backbone) == int(row['params_without_classifier'])


# The paper's ablation (test_family_block.py's order): MobileViTv1-XXS, then one change at a time.
ABLATION = [
    ('1-mobilevitv1', {}),
    ('2-fusion1x1', dict(fusion_kernel=1)),
    ('3-fuselocal', dict(fusion_kernel=1, fuse_local=True)),
    ('4-residual', dict(fusion_kernel=1, fuse_local=True, input_residual=True)),
    ('5-depthwise', dict(fusion_kernel=1, fuse_local=True, input_residual=True,
                         depthwise_local=True)),
]
# MobileViTv1-XXS blocks (C, d) and its count without classifier (Apple's params.tsv), plus the
# demo's 4-class linear layer on the 320-channel expansion.
XXS_BLOCKS = [(48, 64), (64, 80), (80, 96)]
XXS_ROW1 = 951_024 + 320 * 4 + 4


def ablation_count(switches):
    """Row 1 changed by hand, block by block: a 1x1 fusion keeps 1/9 of the 3x3 fusion weights
    over 2C inputs; fusing the local output changes C of those inputs to d; a depthwise local 3x3
    keeps 9C of its 9C^2 weights; the residual has no parameters."""
    total = XXS_ROW1
    for c, d in XXS_BLOCKS:
        if switches.get('fusion_kernel') == 1:
            total -= 8 * 2 * c * c
        if switches.get('fuse_local'):
            total += (d - c) * c * switches.get('fusion_kernel', 3) ** 2
        if switches.get('depthwise_local'):
            total -= 9 * c * c - 9 * c
    return total


def ablation_config(step):
    name = f'mobilevitv1-xxs_ablation-{step}_1xb32-300it_demo-imagenet-96x96.py'
    return CONFIGS / 'ablation' / name


def test_ablation_rows_are_these_five():
    assert sorted(p.name for p in (CONFIGS / 'ablation').glob('*.py')) == \
        sorted(ablation_config(step).name for step, _ in ABLATION)
    assert [ablation_count(s) for _, s in ABLATION] == [952_308, 747_508, 750_580, 750_580,
                                                          637_108]


@pytest.mark.parametrize('step,switches', ABLATION, ids=[s for s, _ in ABLATION])
def test_ablation_row_builds_counts_and_trains_one_iteration(step, switches, tmp_path):
    cfg = Config.fromfile(ablation_config(step))
    demo = Config.fromfile(CONFIGS / 'demo' / 'mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py')
    # Everything but the backbone and its head width is the demo's: budget, seed, data, recipe.
    for key in ('train_cfg', 'randomness', 'optim_wrapper', 'param_scheduler', 'train_dataloader'):
        assert cfg[key] == demo[key], key
    root = write_demo_imagenet(tmp_path / 'imagenet', {'train': 32}, size=96)
    cfg.train_dataloader.dataset.dataset.data_root = str(root)
    model, cfg = build_model_from_config(cfg)
    expected = dict(BLOCK_PRESETS['mobilevitv1'], **switches)
    blocks = [m for m in model.modules() if isinstance(m, MobileViTBlock)]
    assert len(blocks) == 3
    for block in blocks:
        assert {k: getattr(block, k) for k in expected} == expected
    assert count(model) == ablation_count(switches)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(loader))
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    before = [p.detach().clone() for p in model.parameters()]
    losses = model.train_step(batch, optim_wrapper)
    loss = losses['loss'].item()
    # Four classes from scratch: the cross-entropy starts near log(4).
    assert 0.5 < loss < 3.0
    changed = sum(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert changed > len(before) // 2
