"""Write the detection part of the shipped reference subset (this folder) from the full reference.

    python tests/data/authors/det/make_det_subset.py [--reference DIR]

DIR is the authors' reference folder (default: ``MVIT3_REFERENCE`` or
``../shared/reference/official`` beside the repository). What it writes, and which tests read it:

- ``ssdlite_mobilevitv3_xxs_coco_state_dict.pt``: copy of the authors' randomised SSDLite-XXS
  weights (``fixtures/``);
- ``instances_val2017.json``: copy of the COCO-style ground truth of the 7 photographs
  (``pipeline/gt_coco/``);
- ``det_v1_xxs_coco_expected.pt``: what the authors' v1-based evaluation produced with those
  weights (``pipeline/det_v1_xxs_coco.pt``): every detection of the 7 images concatenated in their
  order (``boxes_xyxy`` float32 in original-image pixels, ``scores`` float32, ``labels`` uint8
  1..80), ``n_dets`` per image, ``image_ids`` and the 12 ``coco_stats``;
- ``inputs.json``: for both detection cases (v1 XXS, v2 0.75), the files in evaluation order,
  their COCO image ids and original (H, W), and the sha256 of each image's model input as the
  authors fed it (uint8, C x H x W, their channel order) with its shape;
- ``ssdlite_mobilevitv3_xxs_coco_io_subset.pt``: for the fixture inputs ``io`` (320x320) and
  ``io_256x320``, the authors' raw scores, box regressions and anchors at every 11th anchor and at
  all anchors of the three last maps (``index``), the extra layers' feature maps (strides 64, 128,
  256 and the global map), their 150 best detections, and the first values of the input
  (``x_head``) that the tests regenerate with ``torch.randn(1, 3, H, W)`` from a generator seeded 1.

tests/pipeline/test_det_authors.py, tests/converters/test_cvnets_ssdlite.py and
tests/models/test_det_ssdlite.py read the full reference when it is present, else this subset.
"""
import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
CASES = ('det_v1_xxs_coco', 'det_v2_0.75_coco')
IO_NAMES = ('io', 'io_256x320')
SMALL_MAPS = ('fm_os64', 'fm_os128', 'fm_os256', 'fm_os-1')
TOP_DETECTIONS = 150


def default_reference() -> Path:
    return Path(os.environ.get('MVIT3_REFERENCE',
                               REPO.parent / 'shared' / 'reference' / 'official'))


def input_hashes(case: dict) -> dict:
    """sha256 of each image's uint8 model input, in the authors' channel order."""
    inputs = case['input_u8']
    return dict(files=list(case['files']), image_ids=[int(i) for i in case['image_ids']],
                orig_hw=case['orig_hw'].tolist(), shape=list(inputs.shape[1:]),
                channel_order='BGR' if case['family'] == 'v1' else 'RGB',
                sha256=[hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()
                        for x in inputs])


def subset_index(num_anchors: int, last_maps: int) -> torch.Tensor:
    """Every 11th anchor and all anchors of the last maps (``last_maps`` of them)."""
    every = set(range(0, num_anchors, 11)) | set(range(num_anchors - last_maps, num_anchors))
    return torch.tensor(sorted(every))


def io_subset(io: dict, name: str) -> dict:
    # Anchors of the 3 last maps: 3x3 + 2x2 maps x 6 anchors + 4 on the global map at 320x320.
    last = sum(m.shape[-2] * m.shape[-1] for m in (io['fm_os128'], io['fm_os256'])) * 6 + 4
    index = subset_index(io['scores_raw'].shape[1], last)
    order = io['det_scores'].argsort(descending=True, stable=True)[:TOP_DETECTIONS]
    out = {
        'index': index,
        'x_shape': torch.tensor(io['x'].shape),
        'x_head': io['x'].flatten()[:16].clone(),
        'scores_raw': io['scores_raw'][0, index].clone(),
        'boxes_raw': io['boxes_raw'][0, index].clone(),
        'anchors': io['anchors'][0, index].clone(),
        'det_boxes': io['det_boxes'][order].clone(),
        'det_labels': io['det_labels'][order].to(torch.uint8),
        'det_scores': io['det_scores'][order].clone(),
    }
    out.update({key: io[key].clone() for key in SMALL_MAPS})
    return {f'{name}.{key}': value for key, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--reference', type=Path, default=default_reference(),
                        help='the authors\' reference folder (holding fixtures/ and pipeline/)')
    args = parser.parse_args()
    ref = args.reference
    if not (ref / 'pipeline' / 'det_v1_xxs_coco.pt').is_file():
        raise SystemExit(f'error: no pipeline/det_v1_xxs_coco.pt under {ref}; pass --reference '
                         'DIR (the folder holding fixtures/ and pipeline/)')

    shutil.copyfile(ref / 'fixtures' / 'ssdlite_mobilevitv3_xxs_coco_state_dict.pt',
                    HERE / 'ssdlite_mobilevitv3_xxs_coco_state_dict.pt')
    shutil.copyfile(ref / 'pipeline' / 'gt_coco' / 'instances_val2017.json',
                    HERE / 'instances_val2017.json')

    cases = {name: torch.load(ref / 'pipeline' / f'{name}.pt', weights_only=True)
             for name in CASES}
    v1 = cases['det_v1_xxs_coco']
    torch.save({
        'image_ids': torch.tensor(v1['image_ids']),
        'n_dets': v1['n_dets'].clone(),
        'boxes_xyxy': torch.cat(v1['boxes_xyxy']),
        'scores': torch.cat(v1['scores']),
        'labels': torch.cat(v1['labels']).to(torch.uint8),
        'coco_stats': v1['coco_stats'].clone(),
    }, HERE / 'det_v1_xxs_coco_expected.pt')

    hashes = {name: input_hashes(case) for name, case in cases.items()}
    (HERE / 'inputs.json').write_text(json.dumps(hashes, indent=1) + '\n')

    subset = {}
    for name in IO_NAMES:
        io = torch.load(ref / 'fixtures' / f'ssdlite_mobilevitv3_xxs_coco_{name}.pt',
                        weights_only=True)
        subset.update(io_subset(io, name))
    torch.save(subset, HERE / 'ssdlite_mobilevitv3_xxs_coco_io_subset.pt')

    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f'wrote {HERE} ({total:,} bytes)')


if __name__ == '__main__':
    main()
