
import mmcv
import numpy as np
import pytest
import torch

from mvit3_dense.datasets.synthetic import render_scene
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT, run_tool

CONFIGS = {
    'segmentation': 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py',
    'detection': 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py',
}
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


@pytest.mark.parametrize('task', list(CONFIGS))
def test_image_demo_draws_a_png_of_the_input_size(tmp_path, task):
    config = CONFIGS[task]
    model, _ = build_model_from_config(REPO_ROOT / config)
    num_classes = 21 if task == 'segmentation' else 80
    meta = dict(classes=[f'class{i}' for i in range(num_classes)],
                palette=[[(37 * i) % 256, (91 * i) % 256, (143 * i) % 256]
                         for i in range(num_classes)])
    checkpoint = tmp_path / 'model.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=meta)), checkpoint)
    image = render_scene(np.random.default_rng(3), (200, 300))[0][..., ::-1]
    image_path = tmp_path / 'scene.png'
    mmcv.imwrite(image, str(image_path))
    out = tmp_path / 'out' / 'drawn.png'
    proc = run_tool(
        'tools/demo/image_demo.py', image_path, config, checkpoint, '--out-file', out,
        '--score-thr', '0',
        # Untrained scores are about 1/81: keep them so that boxes are drawn.
        *(['--cfg-options', 'model.test_cfg.score_thr=0'] if task == 'detection' else []))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    drawn = mmcv.imread(str(out))
    assert drawn.shape == image.shape
    assert np.abs(drawn.astype(int) - image.astype(int)).mean() > 1.0
    assert [p.name for p in out.parent.iterdir()] == ['drawn.png']
