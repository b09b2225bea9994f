"""Regenerate this folder (the shipped subset of the authors' segmentation references).

    python tests/data/authors/seg/make_seg_subset.py [--reference DIR]

DIR is the authors' reference folder holding ``fixtures/`` and ``pipeline/`` (default:
``$MVIT3_REFERENCE``, else ``../shared/reference/official`` beside the repository). Written here:

- ``deeplabv3_mobilevitv3_xxs_voc_state_dict.pt``: copy of the authors' randomised DeepLabv3-XXS
  VOC weights (``fixtures/``);
- ``deeplabv3_mobilevitv3_xxs_voc_io_reduced.pt``: per fixture input (``io`` 256x256,
  ``io_nonsquare`` 160x224) the layer5 output, the ASPP output and every 7th logit in each
  direction (7 is prime to the up-sampling factor 16, so all its phases are sampled); the input is
  not stored, it is ``torch.randn(1, 3, H, W, generator=torch.Generator().manual_seed(1))``;
- ``gt_voc/``, ``gt_ade20k/``: the ground-truth PNGs of both cases;
- ``seg_v1_xxs_voc_label_maps/``: the authors' v1 predictions (PNG, class index per pixel);
- ``expected.json``: per case the input hashes (sha256 of the uint8 CHW bytes the dataset class
  yields, BGR for v1 / RGB for v2) and shapes, the network input sizes and statistics, the near-tie
  counts; for the v1 case also the confusion matrix, per-class IoU / accuracy and the mIoU.
"""
import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
CASES = ('seg_v1_xxs_voc', 'seg_v2_0.75_ade20k')
LABELLED = 'seg_v1_xxs_voc'  # the case whose weights ship: its outputs are stored too
WEIGHTS = 'deeplabv3_mobilevitv3_xxs_voc_state_dict.pt'
LOGIT_STEP = 7


def default_reference() -> Path:
    env = os.environ.get('MVIT3_REFERENCE')
    return Path(env) if env else HERE.parents[4] / 'shared' / 'reference' / 'official'


def sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.contiguous().numpy().tobytes()).hexdigest()


def case_record(case: dict, with_outputs: bool) -> dict:
    record = dict(
        family=case['family'], files=list(case['files']), gt_files=list(case['gt_files']),
        orig_hw=case['orig_hw'].tolist(), n_classes=case['n_classes'],
        dataset_input=[dict(shape=list(t.shape), sha256=sha256(t))
                       for t in case['dataset_input_u8']],
        model_input_hw=case['model_input_hw'].tolist(),
        model_input_stats=case['model_input_stats'].tolist(),
        n_pixels_top2_gap_lt_1e_3_std=case['n_pixels_top2_gap_lt_1e-3_std'].tolist())
    if with_outputs:
        record.update(
            confusion_matrix=case['confusion_matrix'].tolist(),
            iou_per_class=case['iou_per_class'].tolist(),
            acc_per_class=case['acc_per_class'].tolist(),
            acc_global=case['acc_global'], miou_authors=case['miou_authors'],
            miou_nanmean=case['miou_nanmean'])
    return record


def reduced_io(io: dict) -> dict:
    generator = torch.Generator().manual_seed(1)
    if not torch.equal(io['x'], torch.randn(*io['x'].shape, generator=generator)):
        raise SystemExit('the fixture input is not torch.randn(seed 1): store it instead')
    return dict(input_shape=torch.tensor(io['x'].shape), backbone_l5=io['backbone_l5'],
                aspp_out=io['aspp_out'],
                logits_sub=io['logits'][..., ::LOGIT_STEP, ::LOGIT_STEP].clone(),
                logit_step=torch.tensor(LOGIT_STEP),
                logits_absmax=io['logits'].abs().max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--reference', type=Path, default=default_reference())
    ref = parser.parse_args().reference
    pipeline, fixtures = ref / 'pipeline', ref / 'fixtures'
    if not (pipeline / 'README.md').is_file():
        raise SystemExit(f'no pipeline reference at {pipeline}: pass --reference DIR')

    shutil.copyfile(fixtures / WEIGHTS, HERE / WEIGHTS)
    reduced = {name: reduced_io(torch.load(fixtures / f'deeplabv3_mobilevitv3_xxs_voc_{name}.pt',
                                           map_location='cpu', weights_only=True))
               for name in ('io', 'io_nonsquare')}
    torch.save(reduced, HERE / 'deeplabv3_mobilevitv3_xxs_voc_io_reduced.pt')

    for gt in ('gt_voc', 'gt_ade20k'):
        shutil.rmtree(HERE / gt, ignore_errors=True)
        (HERE / gt).mkdir()
        for png in sorted((pipeline / gt).glob('*.png')):
            shutil.copyfile(png, HERE / gt / png.name)  # content only: the reference is read-only

    expected = {}
    for name in CASES:
        case = torch.load(pipeline / f'{name}.pt', map_location='cpu', weights_only=True)
        expected[name] = case_record(case, with_outputs=name == LABELLED)
        if name == LABELLED:
            out = HERE / f'{name}_label_maps'
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()
            for gt_file, label_map in zip(case['gt_files'], case['label_map']):
                Image.fromarray(label_map.numpy().astype(np.uint8)).save(out / gt_file)
    (HERE / 'expected.json').write_text(json.dumps(expected, indent=1) + '\n')
    total = sum(p.stat().st_size for p in HERE.rglob('*') if p.is_file())
    print(f'wrote {HERE} ({total:,} bytes)')


if __name__ == '__main__':
    main()
