"""Draw a segmentation or detection model's prediction on one image.

    python tools/demo/image_demo.py IMAGE CONFIG CHECKPOINT [--out-file OUT.png] [--score-thr 0.3]

Segmentation (mmseg configs): the class mask over the image with class names on the regions;
detection (mmdet configs): boxes with class names and scores. Drawn by mmseg's / mmdet's own
visualizers; the picture has the size of the input image.
"""
import argparse
import os
import sys
import tempfile
from pathlib import Path

import mmcv
from mmengine.config import Config, DictAction
from mmengine.model import revert_sync_batchnorm


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw a prediction on an image')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-file', default='demo_result.png')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--opacity', type=float, default=0.5, help='segmentation mask opacity')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    return parser.parse_args(argv)


def draw_segmentation(args, cfg, out_file):
    from mmseg.apis import inference_model, init_model, show_result_pyplot
    model = revert_sync_batchnorm(init_model(cfg, args.checkpoint, device=args.device))
    result = inference_model(model, args.image)
    show_result_pyplot(model, args.image, result, opacity=args.opacity, show=False,
                       draw_gt=False, with_labels=True, out_file=out_file)


def draw_detection(args, cfg, out_file):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    model = init_detector(cfg, args.checkpoint, device=args.device)
    result = inference_detector(model, args.image)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='image_demo'))
    visualizer.dataset_meta = model.dataset_meta
    image = mmcv.imread(args.image, channel_order='rgb')
    visualizer.add_datasample('result', image, data_sample=result, draw_gt=False, show=False,
                              pred_score_thr=args.score_thr, out_file=out_file)


def main(argv=None):
    args = parse_args(argv)
    if mmcv.imread(args.image) is None:
        print(f'error: cannot read image {args.image}', file=sys.stderr)
        return 1
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    draw = {'mmseg': draw_segmentation, 'mmdet': draw_detection}.get(cfg.get('default_scope'))
    if draw is None:
        print(f"error: {args.config} is neither an mmseg nor an mmdet config (default_scope "
              f"{cfg.get('default_scope')!r})", file=sys.stderr)
        return 1
    out = Path(args.out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{out.stem}.', suffix=out.suffix or '.png', dir=out.parent)
    os.close(fd)
    try:
        draw(args, cfg, tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates owner-only files
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
