"""The authors' segmentation evaluation, reproduced with the shipped configs and ``tools/test.py``.

Two cases of the reference (``pipeline/README.md``, section 2): DeepLabv3-XXS on VOC (v1-based
code) and DeepLabv3-0.75 on ADE20K (v2-based code), on four photographs with synthetic ground
truth, in the datasets' real folder layouts. With the reference folder present every stored image
of both cases is checked against the stored tensors; on a plain clone ``tests/data/authors/seg/``
(see its ``make_seg_subset.py``) allows the input checks of both cases (hashes) and the whole v1
evaluation (its weights ship); the v2 evaluation needs the 0.75 weights of the reference folder.
"""
import hashlib
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS
from PIL import Image

from mvit3_dense.converters import convert_checkpoint_file
from mvit3_dense.datasets.transforms.seg import ShortSideResize
from mvit3_dense.utils.model_builder import build_model_from_config
from mvit3_dense.utils.config_loader import load_config

from ..conftest import REPO_ROOT, SHIPPED_REFERENCE, missing_reference, reference_root, run_tool

SHIPPED = SHIPPED_REFERENCE / 'seg'
CASES = {
    'seg_v1_xxs_voc': dict(
        config='configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py',
        weights='deeplabv3_mobilevitv3_xxs_voc_state_dict.pt', dataset='voc', gt='gt_voc'),
    'seg_v2_0.75_ade20k': dict(
        config='configs/deeplabv3/deeplabv3_mobilevitv3-0.75_4xb4-120e_ade20k-512x512.py',
        weights='deeplabv3_mobilevitv3_0.75_ade20k_state_dict.pt', dataset='ade', gt='gt_ade20k'),
}


def _make_subset_module():
    spec = importlib.util.spec_from_file_location('seg_make_subset', SHIPPED / 'make_seg_subset.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_case(name):
    """The reference of one case: the full stored tensors when the reference folder is present,
    else the shipped subset (``full`` False; no input arrays; v2 without outputs)."""
    pipeline = reference_root() / 'pipeline'
    if (pipeline / f'{name}.pt').is_file():
        stored = torch.load(pipeline / f'{name}.pt', map_location='cpu', weights_only=True)
        case = _make_subset_module().case_record(stored, with_outputs=True)
        case.update(full=True, images=pipeline / 'images', gt_dir=pipeline / CASES[name]['gt'],
                    inputs=stored['dataset_input_u8'],
                    label_maps=[m.numpy() for m in stored['label_map']])
        return case
    case = json.loads((SHIPPED / 'expected.json').read_text())[name]
    maps = SHIPPED / f'{name}_label_maps'
    case.update(full=False, images=SHIPPED_REFERENCE / 'images', gt_dir=SHIPPED / CASES[name]['gt'],
                inputs=None,
                label_maps=[np.asarray(Image.open(maps / f)) for f in case['gt_files']]
                if maps.is_dir() else None)
    return case


def write_layout(root, name, case):
    """The case's photos and ground truth in the dataset's real layout; returns the data root."""
    stems = [Path(f).stem for f in case['files']]
    if CASES[name]['dataset'] == 'voc':
        data_root = root / 'VOCdevkit' / 'VOC2012'
        images, masks = data_root / 'JPEGImages', data_root / 'SegmentationClass'
        (data_root / 'ImageSets' / 'Segmentation').mkdir(parents=True)
        (data_root / 'ImageSets' / 'Segmentation' / 'val.txt').write_text('\n'.join(stems) + '\n')
    else:
        data_root = root / 'ADEChallengeData2016'
        images = data_root / 'images' / 'validation'
        masks = data_root / 'annotations' / 'validation'
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for stem in stems:
        shutil.copyfile(case['images'] / f'{stem}.jpg', images / f'{stem}.jpg')
        shutil.copyfile(case['gt_dir'] / f'{stem}.png', masks / f'{stem}.png')
    return data_root


@pytest.mark.parametrize('file, size', [('astronaut_500x375.jpg', (682, 512)),
                                        ('grace_hopper_281x422.jpg', (512, 768))])
def test_short_side_resize_truncates_and_equals_pil_bicubic(file, size):
    """500x375 -> 682x512 as the authors' int(); mmcv's keep-ratio Resize rounds to 683."""
    rgb = Image.open(SHIPPED_REFERENCE / 'images' / file).convert('RGB')
    bgr = np.ascontiguousarray(np.asarray(rgb)[..., ::-1])
    out = ShortSideResize(short_side=512)(dict(img=bgr))
    assert out['img'].shape[:2] == size[::-1] and out['img_shape'] == size[::-1]
    assert np.array_equal(out['img'][..., ::-1], np.asarray(rgb.resize(size, Image.BICUBIC)))


def _data_options(data_root):
    return {'test_dataloader.dataset.data_root': str(data_root)}


@pytest.mark.parametrize('name', sorted(CASES))
def test_dataset_and_network_inputs_equal_the_authors(name, tmp_path):
    case = load_case(name)
    config = str(REPO_ROOT / CASES[name]['config'])
    cfg = load_config(config, _data_options(write_layout(tmp_path, name, case)))
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    model, _ = build_model_from_config(cfg)
    samples = {Path(dataset[i]['data_samples'].img_path).name: dataset[i]
               for i in range(len(dataset))}
    assert sorted(samples) == sorted(case['files'])
    for i, file in enumerate(case['files']):
        sample = samples[file]
        inputs = sample['inputs']  # uint8 CHW as loaded by mmcv: BGR
        authors_order = inputs if case['family'] == 'v1' else inputs.flip(0)
        expected = case['dataset_input'][i]
        assert list(authors_order.shape) == expected['shape'], file
        digest = hashlib.sha256(authors_order.contiguous().numpy().tobytes()).hexdigest()
        if case['inputs'] is not None:
            diff = (authors_order.int() - case['inputs'][i].int()).abs().max().item()
            assert diff == 0, (file, diff)
        assert digest == expected['sha256'], file

        # What enters the network: the data preprocessor (channel order, /255), then the floor
        # to the output stride.
        with torch.no_grad():
            batch = model.data_preprocessor(pseudo_collate([sample]), False)['inputs']
            network_input = model.resize_to_stride(batch).double()
        assert list(network_input.shape[2:]) == case['model_input_hw'][i], file
        stats = [network_input.sum().item(), network_input.square().sum().item(),
                 network_input.min().item(), network_input.max().item()]
        assert stats == pytest.approx(case['model_input_stats'][i], rel=1e-6, abs=1e-9), file


def _weights(name):
    """The authors' state_dict of a case: shipped (v1) or from the reference folder."""
    shipped = SHIPPED / CASES[name]['weights']
    if shipped.is_file():
        return shipped
    path = reference_root() / 'fixtures' / CASES[name]['weights']
    if not path.is_file():
        missing_reference(f'{path.name} (the v2 weights do not ship) not found under '
                          f'{reference_root() / "fixtures"}')
    return path


@pytest.mark.parametrize('name', sorted(CASES))
def test_tools_test_reproduces_the_authors_predictions_and_metric(name, tmp_path):
    case = load_case(name)
    if case['label_maps'] is None:
        missing_reference(f'the weights and outputs of {name} are only in the reference folder '
                          f'({reference_root() / "pipeline"})')
    checkpoint = tmp_path / 'converted.pth'
    convert_checkpoint_file(_weights(name), checkpoint, kind='segmentor', progress=False)
    data_root = write_layout(tmp_path / 'data', name, case)
    out = tmp_path / 'out'
    proc = run_tool('tools/test.py', REPO_ROOT / CASES[name]['config'], checkpoint,
                    '--work-dir', tmp_path / 'work', '--out', out,
                    '--cfg-options', f'test_dataloader.dataset.data_root={data_root}')
    assert proc.returncode == 0, proc.stderr[-3000:]

    # Label maps: equal except, at most, the pixels whose two best logits are within float noise.
    # Under reduce_zero_label the PNGs hold class + 1.
    offset = 1 if CASES[name]['dataset'] == 'ade' else 0
    differing = []
    for i, gt_file in enumerate(case['gt_files']):
        ours = np.asarray(Image.open(out / gt_file)).astype(np.int64) - offset
        theirs = case['label_maps'][i].astype(np.int64)
        assert ours.shape == theirs.shape, gt_file
        differing.append(int((ours != theirs).sum()))
        assert differing[-1] <= case['n_pixels_top2_gap_lt_1e_3_std'][i], (gt_file, differing)

    scores = json.loads((out / 'confusion_matrix.json').read_text())
    ours_cm, theirs_cm = np.array(scores['confusion_matrix']), np.array(case['confusion_matrix'])
    assert ours_cm.sum() == theirs_cm.sum()
    if sum(differing) == 0:
        # Same label maps: the authors' matrix, IoUs and mIoU to the last bit.
        assert np.array_equal(ours_cm, theirs_cm)
        assert np.array_equal(np.array(scores['iou_per_class'], float),
                              np.array(case['iou_per_class'], float), equal_nan=True)
        assert scores['miou_authors'] == case['miou_authors']
        assert scores['acc_global'] == case['acc_global']
    else:
        # Each differing pixel moves one count between two cells of a row.
        assert np.abs(ours_cm - theirs_cm).sum() <= 2 * sum(differing)
        assert scores['miou_authors'] == pytest.approx(case['miou_authors'], rel=1e-2)
    printed = f"mIoU: {100 * scores['miou_authors']:.4f}"
    assert printed in proc.stdout.splitlines(), proc.stdout[-2000:]


def test_shipped_subset_is_current(pipeline_dir):
    """tests/data/authors/seg/ is what make_seg_subset.py writes from the reference folder."""
    make_subset = _make_subset_module()
    expected = json.loads((SHIPPED / 'expected.json').read_text())
    for name in CASES:
        stored = torch.load(pipeline_dir / f'{name}.pt', map_location='cpu', weights_only=True)
        record = make_subset.case_record(stored, with_outputs=name == make_subset.LABELLED)
        assert json.loads(json.dumps(record)) == expected[name], name
        for gt_file in stored['gt_files']:
            gt = CASES[name]['gt']
            shipped = (SHIPPED / gt / gt_file).read_bytes()
            assert shipped == (pipeline_dir / gt / gt_file).read_bytes(), gt_file
    labelled = torch.load(pipeline_dir / f'{make_subset.LABELLED}.pt', map_location='cpu',
                          weights_only=True)
    for gt_file, label_map in zip(labelled['gt_files'], labelled['label_map']):
        shipped = np.asarray(Image.open(SHIPPED / f'{make_subset.LABELLED}_label_maps' / gt_file))
        assert np.array_equal(shipped, label_map.numpy()), gt_file
    fixtures = pipeline_dir.parent / 'fixtures'
    weights = (SHIPPED / make_subset.WEIGHTS).read_bytes()
    assert weights == (fixtures / make_subset.WEIGHTS).read_bytes()
    shipped_io = torch.load(SHIPPED / 'deeplabv3_mobilevitv3_xxs_voc_io_reduced.pt',
                            weights_only=True)
    for name, reduced in shipped_io.items():
        io = torch.load(fixtures / f'deeplabv3_mobilevitv3_xxs_voc_{name}.pt', weights_only=True)
        fresh = make_subset.reduced_io(io)
        assert sorted(fresh) == sorted(reduced)
        assert all(torch.equal(fresh[key], reduced[key]) for key in fresh), name
