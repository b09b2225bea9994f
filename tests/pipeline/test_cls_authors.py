"""The authors' classification evaluation path, JPEG to prediction, through the shipped configs.

Reference: ``pipeline/README.md`` section 1 of the authors' reference (``cls_v1_xxs.pt``,
``cls_v2_0.5.pt``). v1-based: cv2 decoding, BGR kept, short side 288 (cv2 bilinear), floor-offset
256 centre crop, /255. v2-based: PIL ``convert('RGB')``, short side 288 (PIL bicubic), the same
crop, /255. A plain clone checks the inputs against the hashes in ``tests/data/authors/cls``;
with the full reference the inputs are compared tensor for tensor and ``tools/test.py`` runs the
authors' weights on the photos.
"""
import hashlib
import json
import pickle
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import CenterCrop
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from PIL import Image

from mvit3_dense.converters import convert_checkpoint_file
from mvit3_dense.datasets.transforms.cls import FloorCenterCrop
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.config_loader import load_config

from ..conftest import REPO_ROOT, SHIPPED_REFERENCE, run_tool

FAMILIES = {
    'v1': dict(case='cls_v1_xxs', arch='xxs',
               config=REPO_ROOT / 'configs/mobilevitv3/mobilevitv3-xxs_4xb96-300e_in1k.py'),
    'v2': dict(case='cls_v2_0.5', arch='0.5',
               config=REPO_ROOT / 'configs/mobilevitv3/mobilevitv3-0.5_4xb255-300e_in1k.py'),
}
SHIPPED = json.loads((SHIPPED_REFERENCE / 'cls' / 'cls.json').read_text())['families']
PHOTOS = SHIPPED_REFERENCE / 'images'


def sha256(image_u8):
    return hashlib.sha256(image_u8.contiguous().numpy().tobytes()).hexdigest()


def write_imagenet_val(root, photos, labels):
    """mmpretrain's ImageNet layout for ``split='val'``: ``val/<file>`` and ``meta/val.txt``."""
    (root / 'val').mkdir(parents=True)
    (root / 'meta').mkdir()
    for photo in photos:
        shutil.copy(photo, root / 'val' / Path(photo).name)
    lines = [f'{Path(photo).name} {int(label)}' for photo, label in zip(photos, labels)]
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')
    return root


def network_inputs(config, root):
    """(file names, the float inputs the network receives) for the val set under ``root``: the
    shipped config's test dataloader and its model's data preprocessor, nothing else changed."""
    cfg = load_config(str(config), {'test_dataloader.dataset.data_root': str(root)})
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    init_default_scope('mmpretrain')
    loader = Runner.build_dataloader(cfg.test_dataloader)
    preprocessor = build_model_from_config(config)[0].data_preprocessor
    names, inputs = [], []
    for batch in loader:
        data = preprocessor(batch, training=False)
        names += [Path(sample.img_path).name for sample in data['data_samples']]
        inputs.append(data['inputs'])
    return names, torch.cat(inputs)


def as_exact_u8(inputs):
    """The uint8 image behind float inputs that must be exactly ``u8 / 255``."""
    u8 = (inputs * 255).round().clamp(0, 255).to(torch.uint8)
    assert torch.equal(inputs, u8.float() / 255), 'inputs are not of the form k / 255'
    return u8


def authors_input(path, family):
    """The authors' evaluation input of one image with the plain cv2 / PIL calls of their code
    (reference README section 1: v1 steps 1-4, v2 steps 1-4), uint8 CHW."""
    if family == 'v1':
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        height, width = image.shape[:2]
    else:
        image = Image.open(path).convert('RGB')
        width, height = image.size
    if min(height, width) != 288:
        if width < height:
            size = (288, int(288 * height / width))
        else:
            size = (int(288 * width / height), 288)
        image = (cv2.resize(image, size, interpolation=cv2.INTER_LINEAR) if family == 'v1'
                 else image.resize(size, Image.BICUBIC))
    image = np.asarray(image)
    top, left = (image.shape[0] - 256) // 2, (image.shape[1] - 256) // 2
    crop = image[top:top + 256, left:left + 256]
    return torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))


@pytest.mark.parametrize('family', list(FAMILIES))
def test_inputs_match_the_shipped_hashes(family, tmp_path):
    """Every photo reaches the network byte for byte as in the authors' evaluation (plain clone)."""
    entry = SHIPPED[family]
    root = write_imagenet_val(tmp_path / 'imagenet', [PHOTOS / f for f in entry['files']],
                              [0] * len(entry['files']))
    names, inputs = network_inputs(FAMILIES[family]['config'], root)
    assert names == entry['files']
    u8 = as_exact_u8(inputs)
    assert [list(x.shape) for x in u8] == [entry['input_shape']] * len(names)
    assert [sha256(x) for x in u8] == entry['input_sha256']


@pytest.mark.parametrize('family', list(FAMILIES))
def test_inputs_equal_the_authors_tensors(family, pipeline_dir, tmp_path):
    case = torch.load(pipeline_dir / f"{FAMILIES[family]['case']}.pt", weights_only=True)
    root = write_imagenet_val(tmp_path / 'imagenet', [pipeline_dir / 'images' / f for f in case['files']],
                              [0] * len(case['files']))
    names, inputs = network_inputs(FAMILIES[family]['config'], root)
    assert names == case['files']
    expected = case['input_u8'].float() / 255
    assert inputs.shape == expected.shape
    assert (inputs - expected).abs().max().item() == 0
    # The shipped subset is what the full reference gives.
    entry = SHIPPED[family]
    assert entry['input_sha256'] == [sha256(x) for x in case['input_u8']]
    assert entry['top5'] == case['top5'].tolist() and entry['files'] == case['files']
    assert entry['orig_hw'] == case['orig_hw'].tolist()


@pytest.mark.parametrize('family', list(FAMILIES))
def test_plain_authors_calls_reproduce_the_shipped_inputs(family):
    """The cv2 / PIL re-statement used below for other images is itself the authors' path."""
    entry = SHIPPED[family]
    assert [sha256(authors_input(PHOTOS / f, family)) for f in entry['files']] == entry['input_sha256']


def write_odd_images(folder):
    """Images that exercise the decoding and geometry corners: an EXIF-rotated JPEG (the
    authors' cv2.imread applies the rotation, their PIL path does not), a CMYK JPEG, a
    greyscale PNG, short sides of exactly 288 and below it, a square, odd crop margins."""
    folder.mkdir()
    rng = np.random.default_rng(0)

    def smooth(h, w, c=3):
        # Low-frequency content so that resizing is not trivially exact.
        small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, c), dtype=np.uint8)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(smooth(301, 433)).save(folder / 'exif_rotated.jpg', quality=92, exif=exif)
    Image.fromarray(smooth(333, 517)).convert('CMYK').save(folder / 'cmyk.jpg', quality=92)
    Image.fromarray(smooth(290, 419, 1)[..., 0]).save(folder / 'grey.png')
    Image.fromarray(smooth(288, 465)).save(folder / 'short_288.jpg', quality=92)
    Image.fromarray(smooth(403, 199)).save(folder / 'narrow.jpg', quality=92)
    Image.fromarray(smooth(377, 377)).save(folder / 'square.png')
    return sorted(folder.iterdir())


@pytest.mark.parametrize('family', list(FAMILIES))
def test_other_images_follow_the_authors_calls(family, tmp_path):
    photos = write_odd_images(tmp_path / 'odd')
    root = write_imagenet_val(tmp_path / 'imagenet', photos, [0] * len(photos))
    names, inputs = network_inputs(FAMILIES[family]['config'], root)
    assert names == [p.name for p in photos]
    u8 = as_exact_u8(inputs)
    for name, ours in zip(names, u8):
        theirs = authors_input(tmp_path / 'odd' / name, family)
        assert (ours.int() - theirs.int()).abs().max().item() == 0, name


CLS_CONFIGS = sorted((REPO_ROOT / 'configs' / 'mobilevitv3').glob('*.py'))


@pytest.mark.parametrize('config', CLS_CONFIGS, ids=lambda c: c.stem)
def test_every_shipped_config_follows_its_family(config, tmp_path):
    """All nine classifiers (S/XS/XXS and L2: v1-based; 0.5/0.75/1.0: v2-based) feed the
    network what the authors' code of their family feeds it."""
    arch = load_config(str(config)).model.backbone.arch
    family = 'v2' if arch in ('0.5', '0.75', '1.0') else 'v1'
    photos = [PHOTOS / 'coffee_640x427.jpg', PHOTOS / 'camera_gray_512x512.jpg',
              PHOTOS / 'grace_hopper_281x422.jpg']
    root = write_imagenet_val(tmp_path / 'imagenet', photos, [0] * len(photos))
    _, inputs = network_inputs(config, root)
    for photo, ours in zip(photos, as_exact_u8(inputs)):
        assert torch.equal(ours, authors_input(photo, family)), (family, photo.name)


def test_floor_center_crop_takes_the_authors_offsets():
    height, width = 288, 431  # coffee_640x427 after the short-side resize: odd margin 175
    image = (np.arange(height * width) % 65521).reshape(height, width, 1).repeat(3, 2)
    ours = FloorCenterCrop(crop_size=256)(dict(img=image.copy()))['img']
    mmcv_crop = CenterCrop(crop_size=256)(dict(img=image.copy()))['img']
    assert np.array_equal(ours, image[16:272, 87:343])
    assert np.array_equal(mmcv_crop, image[16:272, 88:344])  # what the library would take
    # Even margins and margins that round down leave both at the same place.
    for size in ((300, 300), (289, 429)):
        image = np.arange(size[0] * size[1] * 3).reshape(*size, 3)
        assert np.array_equal(FloorCenterCrop(crop_size=256)(dict(img=image.copy()))['img'],
                              CenterCrop(crop_size=256)(dict(img=image.copy()))['img'])


ACCURACY = re.compile(r'^accuracy/top(\d): ([0-9.]+)$', re.M)


@pytest.mark.parametrize('family', list(FAMILIES))
def test_tools_test_reproduces_the_authors_predictions(family, reference_dir, pipeline_dir, tmp_path):
    """tools/test.py with the shipped config on the photos in ImageNet layout and the authors'
    weights converted: the same top-5 classes in order, log-probabilities within 1e-4 of the
    logits' magnitude, and the accuracy the labels imply."""
    spec = FAMILIES[family]
    case = torch.load(pipeline_dir / f"{spec['case']}.pt", weights_only=True)
    logits = case['logits']
    # Labels at known ranks of the authors' logits.
    ranks = torch.tensor([0, 1, 4, 5, 0, 2, 9])[:len(logits)]
    labels = logits.argsort(dim=1, descending=True)[torch.arange(len(logits)), ranks]
    root = write_imagenet_val(tmp_path / 'imagenet', [pipeline_dir / 'images' / f for f in case['files']],
                              labels)
    ckpt = tmp_path / 'classifier.pth'
    convert_checkpoint_file(reference_dir / 'fixtures' / f"mobilevitv3_{spec['arch']}_state_dict.pt",
                            ckpt, kind='classifier', progress=False)
    out = tmp_path / 'preds.pkl'
    proc = run_tool('tools/test.py', spec['config'], ckpt, '--work-dir', tmp_path / 'work',
                    '--out', out, '--cfg-options', f'test_dataloader.dataset.data_root={root}')
    assert proc.returncode == 0, proc.stderr[-3000:]

    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert [Path(r['img_path']).name for r in results] == case['files']
    scores = torch.stack([torch.as_tensor(r['pred_score']) for r in results])
    assert scores.argsort(dim=1, descending=True)[:, :5].tolist() == case['top5'].tolist()
    # mmpretrain dumps softmax scores: compare log-probabilities (logits up to a constant).
    diff = (scores.double().log() - logits.double().log_softmax(dim=1)).abs().max().item()
    assert diff <= 1e-4 * logits.abs().max().item(), diff

    printed = {int(k): float(v) for k, v in ACCURACY.findall(proc.stdout)}
    expected = {k: 100 * (ranks < k).float().mean().item() for k in (1, 5)}
    assert printed.keys() == expected.keys(), proc.stdout
    for k in expected:
        assert abs(printed[k] - expected[k]) < 1e-3, (k, printed, expected)
