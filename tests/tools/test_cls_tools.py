"""Classification through tools/train.py and tools/test.py: the authors' weights and the demo."""
import json
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from mvit3_dense.converters import convert_checkpoint_file
from mvit3_dense.datasets import write_demo_imagenet
from mvit3_dense.utils.config_loader import load_config
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.run_config import prepare_test_cfg

from ..conftest import REPO_ROOT as REPO, load_fixture, run_tool

CONFIGS = {
    'xxs': REPO / 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py',
    '0.5': REPO / 'configs/mobilevitv3/mobilevitv3-0.5_4xb255-300e_in1k.py',
}
DEMO = REPO / 'configs/demo/mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py'


@pytest.fixture(scope='module', params=list(CONFIGS))
def converted(request, reference_dir, tmp_path_factory):
    """(arch, config, checkpoint converted from the authors' state_dict)."""
    arch = request.param
    dst = tmp_path_factory.mktemp('ckpt') / f'mobilevitv3-{arch}_in1k.pth'
    convert_checkpoint_file(reference_dir / 'fixtures' / f'mobilevitv3_{arch}_state_dict.pt', dst,
                            kind='classifier')
    return arch, CONFIGS[arch], dst


def test_converted_checkpoint_fits_the_config_exactly(converted):
    _, config, ckpt = converted
    model, _ = build_model_from_config(config)
    state = torch.load(ckpt, map_location='cpu', weights_only=True)['state_dict']
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


def write_float_imagenet(root, images, labels):
    """An ImageNet-format val set whose images are the given CHW float arrays, stored losslessly
    as float32 TIFFs (HWC, channel order kept), so that they reach the network unchanged."""
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    lines = []
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f'x{i}.tif'
        assert cv2.imwrite(str(root / 'val' / name), image.permute(1, 2, 0).numpy())
        lines.append(f'{name} {label}')
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')


def test_tools_test_reproduces_the_authors_predictions(converted, reference_dir, tmp_path):
    arch, config, ckpt = converted
    ios = [load_fixture(reference_dir, f'mobilevitv3_{arch}_io.pt'),
           load_fixture(reference_dir, f'mobilevitv3_{arch}_io_320x256.pt')]
    images = [x for io in ios for x in io['x']]
    logits = torch.cat([io['logits'] for io in ios])
    ranking = logits.argsort(dim=1, descending=True)
    # Labels at known ranks of the authors' logits: 1st, 1st, 3rd and 10th. Hand-computed:
    # top-1 = 2 / 4 = 50 %, top-5 = 3 / 4 = 75 %.
    labels = [ranking[0, 0], ranking[1, 0], ranking[2, 2], ranking[3, 9]]
    write_float_imagenet(tmp_path / 'set', images, [int(label) for label in labels])

    # The fixture inputs are the network's input already: read the TIFFs as they are, with no
    # resizing, scaling or channel swap.
    test_config = tmp_path / 'fixture_test.py'
    test_config.write_text(f"""_base_ = [{str(config)!r}]
model = dict(data_preprocessor=dict(std=[1., 1., 1.], to_rgb=False))
test_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root={str(tmp_path / 'set')!r}, pipeline=[
        dict(type='LoadImageFromFile', color_type='unchanged', imdecode_backend='cv2'),
        dict(type='PackInputs')]))
""")
    out = tmp_path / 'preds.pkl'
    proc = run_tool('tools/test.py', test_config, ckpt, '--work-dir', tmp_path / 'work', '--out', out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r'^accuracy/top1: 50\.0000$', proc.stdout, re.M), proc.stdout
    assert re.search(r'^accuracy/top5: 75\.0000$', proc.stdout, re.M), proc.stdout

    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert [int(r['pred_label']) for r in results] == logits.argmax(1).tolist()
    scores = torch.stack([torch.as_tensor(r['pred_score']) for r in results])
    assert torch.allclose(scores, logits.softmax(1), atol=1e-6), (scores - logits.softmax(1)).abs().max()


def losses_of(work_dir):
    """Training losses logged by mmengine (vis_data/scalars.json of the run)."""
    scalars, = Path(work_dir).glob('*/vis_data/scalars.json')
    return [json.loads(line)['loss'] for line in scalars.read_text().splitlines()
            if '"loss"' in line]


def test_demo_classifier_learns_within_a_few_dozen_iterations(tmp_path):
    write_demo_imagenet(tmp_path / 'imagenet', {'train': 64, 'val': 8}, size=64, seed=3)
    root = tmp_path / 'imagenet'
    proc = run_tool(
        'tools/train.py', DEMO, '--work-dir', tmp_path / 'work', '--cfg-options',
        f'train_dataloader.dataset.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=8', 'train_dataloader.batch_sampler.base_size=64',
        'train_dataloader.batch_sampler.min_size=48', 'train_dataloader.batch_sampler.max_size=80',
        'train_dataloader.batch_sampler.size_divisor=16', 'train_cfg.max_iters=30',
        'train_cfg.val_interval=30', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=30', 'param_scheduler.0.end=5',
        'param_scheduler.1.begin=5', 'param_scheduler.1.end=30')
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = losses_of(tmp_path / 'work')
    assert len(losses) == 30
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    # Four classes: an untrained model starts near ln 4 = 1.39 (label smoothing keeps the loss > 0.2).
    assert 1.0 < first and last < 0.7 * first, losses


@pytest.mark.parametrize('arch', list(CONFIGS))
def test_recipe_trains_one_step_on_imagenet_layout(arch, tmp_path):
    """The full ImageNet recipe (multi-scale batches for v1; RandAugment, erasing, MixUp/CutMix
    for v2) runs a training step on a set in ImageNet's layout."""
    write_demo_imagenet(tmp_path / 'imagenet', {'train': 12}, size=(200, 240), seed=1)
    cfg = load_config(str(CONFIGS[arch]))
    loader = cfg.train_dataloader
    loader.update(batch_size=2, num_workers=0, persistent_workers=False)
    dataset = loader.dataset.get('dataset', loader.dataset)
    dataset.data_root = str(tmp_path / 'imagenet')
    init_default_scope('mmpretrain')
    dataloader = Runner.build_dataloader(loader, seed=0)
    batch = next(iter(dataloader))
    shapes = {tuple(img.shape) for img in batch['inputs']}
    if arch == 'xxs':
        # Base batch 2 at 256: 160 -> int(2 * 256^2 / 160^2) = 5, 192 -> 3, 256 to 320 -> 2.
        assert dataloader.batch_sampler.pairs == [(160, 160, 5), (192, 192, 3), (256, 256, 2),
                                                  (288, 288, 2), (320, 320, 2)]
        (shape, ) = shapes
        assert (shape[1], shape[2], len(batch['inputs'])) in dataloader.batch_sampler.pairs
    else:
        assert shapes == {(3, 256, 256)} and len(batch['inputs']) == 2
    model, _ = build_model_from_config(CONFIGS[arch])
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    loss = model.train_step(batch, optim)['loss']
    assert torch.isfinite(loss) and loss.item() > 0


def test_missing_imagenet_split_is_named(tmp_path):
    (tmp_path / 'imagenet' / 'train').mkdir(parents=True)
    proc = run_tool('tools/test.py', CONFIGS['xxs'], REPO / 'README.md', '--cfg-options',
                    f'test_dataloader.dataset.data_root={tmp_path / "imagenet"}')
    assert proc.returncode != 0
    assert f'missing under {tmp_path / "imagenet"}: val' in proc.stderr, proc.stderr[-2000:]
    assert 'make_demo_data.py --out data/demo --task cls' in proc.stderr


def test_out_dumps_per_image_results_for_classification(tmp_path):
    cfg = load_config(str(CONFIGS['xxs']), {'test_dataloader.dataset.data_root': str(tmp_path)})
    (tmp_path / 'val').mkdir()
    with pytest.raises(ValueError, match='--out must be a .pkl file for classification'):
        prepare_test_cfg(cfg, str(CONFIGS['xxs']), str(REPO / 'README.md'), out='preds.txt')
    cfg = prepare_test_cfg(cfg, str(CONFIGS['xxs']), str(REPO / 'README.md'), out='preds.pkl')
    assert cfg.test_evaluator == [dict(type='Accuracy', topk=(1, 5)),
                                  dict(type='DumpResults', out_file_path='preds.pkl')]


@pytest.mark.parametrize('arch, red_channel', [('xxs', 2), ('0.5', 0)])
def test_training_feeds_the_evaluation_channel_order(arch, red_channel, tmp_path):
    """Training decodes images as evaluation does and both pass the one data preprocessor, so
    the network trains on the authors' evaluation convention: BGR for v1-based models, RGB for
    v2-based ones. A red photo shows where red lands."""
    from mmpretrain.registry import TRANSFORMS
    from PIL import Image

    path = tmp_path / 'red.jpg'
    exif = Image.Exif()
    exif[0x0112] = 6  # a rotation tag: both pipelines must treat it alike
    Image.new('RGB', (300, 200), (255, 0, 0)).save(path, quality=95, exif=exif)
    cfg = load_config(str(CONFIGS[arch]))
    train = cfg.train_dataloader.dataset.get('dataset', cfg.train_dataloader.dataset).pipeline
    test = cfg.test_dataloader.dataset.pipeline
    init_default_scope('mmpretrain')
    train_load, test_load = TRANSFORMS.build(train[0]), TRANSFORMS.build(test[0])
    decoded = test_load(dict(img_path=str(path)))['img']
    assert np.array_equal(train_load(dict(img_path=str(path)))['img'], decoded)

    model, _ = build_model_from_config(CONFIGS[arch])
    image = torch.from_numpy(np.ascontiguousarray(decoded.transpose(2, 0, 1)))
    for training in (False, True):
        x = model.data_preprocessor(dict(inputs=[image]), training=training)['inputs'][0]
        assert x[red_channel].min() > 0.95 and x[2 - red_channel].max() < 0.05
