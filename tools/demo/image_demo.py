"""Draw a segmentation or detection model's prediction on one image.

    python tools/demo/image_demo.py IMAGE CONFIG CHECKPOINT [--out-file OUT.png] [--score-thr 0.3]
                                                   [--no-fuse]

Segmentation (mmseg configs): the class mask over the image with class names on the regions;
detection (mmdet configs): boxes with class names and scores. Drawn by mmseg's / mmdet's own
visualizers; the picture has the size of the input image.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import mmcv
from mmengine.model import revert_sync_batchnorm

from mvit3_dense.utils.atomic_io import atomic_write
from mvit3_dense.utils.checkpoint import load_model_weights
from mvit3_dense.utils.config_loader import CfgOptionsAction, load_config
from mvit3_dense.utils.deploy import prepare_for_inference
from mvit3_dense.utils.errors import tool_errors
from mvit3_dense.utils.input_checks import leaf_datasets


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw a prediction on an image')
    parser.add_argument('image')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-file', default='demo_result.png')
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--opacity', type=float, default=0.5, help='segmentation mask opacity')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--no-fuse', action='store_true',
                        help='run the model as trained (default: batch norms folded, as '
                        'tools/test.py)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='override config settings, e.g. model.test_cfg.score_thr=0.1')
    return parser.parse_args(argv)


def config_dataset_meta(cfg):
    """Class names and palette of the config's test dataset (its class and ``metainfo``)."""
    from mmengine.registry import DATASETS
    loader = cfg.get('test_dataloader') or {}
    dataset = next(leaf_datasets(loader.get('dataset')), None) or {}
    try:
        with DATASETS.switch_scope_and_registry(None) as registry:  # the config's scope
            meta = dict(getattr(registry.get(dataset.get('type')), 'METAINFO', None) or {})
    except Exception:  # noqa: BLE001  an unregistered or missing dataset type
        meta = {}
    meta.update(dataset.get('metainfo') or {})
    return meta


def load_weights(model, args, cfg, config_palette_first=False):
    """The checkpoint's weights (strictly: another model's checkpoint is refused, naming the
    mismatch) and class names: the checkpoint's, else the config dataset's. mmdet's
    ``init_detector`` takes the palette from the config first, as here with
    ``config_palette_first``."""
    checkpoint = load_model_weights(model, args.checkpoint)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    saved = meta.get('dataset_meta') if isinstance(meta, dict) else None
    from_config = config_dataset_meta(cfg)
    dataset_meta = {k.lower(): v for k, v in saved.items()} if saved else \
        {**(getattr(model, 'dataset_meta', None) or {}), **from_config}
    if config_palette_first:
        if from_config.get('palette') is not None:
            dataset_meta['palette'] = from_config['palette']
        dataset_meta.setdefault('palette', 'random')
    model.dataset_meta = dataset_meta
    return model.to(args.device).eval()


def draw_segmentation(args, cfg, out_file):
    from mmseg.apis import inference_model, init_model, show_result_pyplot
    model = load_weights(init_model(cfg, None, device='cpu'), args, cfg)
    model = revert_sync_batchnorm(model)
    if not args.no_fuse:
        prepare_for_inference(model)
    result = inference_model(model, args.image)
    show_result_pyplot(model, args.image, result, opacity=args.opacity, show=False,
                       draw_gt=False, with_labels=True, out_file=out_file)


def draw_detection(args, cfg, out_file):
    from mmdet.apis import inference_detector, init_detector
    from mmdet.registry import VISUALIZERS
    model = load_weights(init_detector(cfg, None, device='cpu'), args, cfg,
                         config_palette_first=True)
    if not args.no_fuse:
        prepare_for_inference(model)
    result = inference_detector(model, args.image)
    visualizer = VISUALIZERS.build(dict(type='DetLocalVisualizer', name='image_demo'))
    visualizer.dataset_meta = model.dataset_meta
    image = mmcv.imread(args.image, channel_order='rgb')
    visualizer.add_datasample('result', image, data_sample=result, draw_gt=False, show=False,
                              pred_score_thr=args.score_thr, out_file=out_file)


def main(argv=None):
    args = parse_args(argv)
    with tool_errors():
        return draw_image(args)


def draw_image(args):
    if mmcv.imread(args.image) is None:
        print(f'error: cannot read image {args.image}', file=sys.stderr)
        return 1
    cfg = load_config(args.config, args.cfg_options)
    draw = {'mmseg': draw_segmentation, 'mmdet': draw_detection}.get(cfg.get('default_scope'))
    if draw is None:
        print(f"error: {args.config} is neither an mmseg nor an mmdet config (default_scope "
              f"{cfg.get('default_scope')!r})", file=sys.stderr)
        return 1
    out = Path(args.out_file)
    # Drawn in a scratch folder, then published by one atomic rename: never a half-written file.
    with tempfile.TemporaryDirectory() as scratch:
        drawn = Path(scratch) / f'drawn{out.suffix or ".png"}'
        draw(args, cfg, str(drawn))
        atomic_write(drawn.read_bytes(), str(out))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
