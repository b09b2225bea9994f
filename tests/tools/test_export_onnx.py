import subprocess
import sys

import mmcv
import numpy as np
import pytest

from mvit3_dense.datasets.synthetic import render_scene

from ..conftest import REPO_ROOT

CONFIGS = {
    ('segmentor', 'xxs'): 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py',
    ('segmentor', '0.5'): 'configs/deeplabv3/deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py',
    ('detector', 'xxs'): 'configs/ssdlite/ssdlite_mobilevitv3-xxs_4xb32-200e_coco-320x320.py',
    ('detector', '0.5'): 'configs/ssdlite/ssdlite_mobilevitv3-0.5_4xb32-200e_coco-320x320.py',
}


@pytest.fixture(scope='module')
def demo_image(tmp_path_factory):
    image = render_scene(np.random.default_rng(0), 256)[0]
    path = tmp_path_factory.mktemp('img') / 'scene.jpg'
    mmcv.imwrite(image[..., ::-1], str(path))
    return path


def export(config, out, *extra):
    return subprocess.run(
        [sys.executable, 'tools/deployment/export_onnx.py', config, 'none', str(out),
         '--shape', '256', '256', *map(str, extra)],
        cwd=REPO_ROOT, capture_output=True, text=True)


def max_diffs(stdout):
    return [float(line.rsplit(' ', 1)[1]) for line in stdout.splitlines() if 'max abs diff' in line]


@pytest.mark.parametrize('arch', ['xxs', '0.5'])
@pytest.mark.parametrize('what', ['segmentor', 'detector', 'backbone'])
def test_onnx_export_matches_pytorch(tmp_path, demo_image, arch, what):
    out = tmp_path / f'{what}.onnx'
    extra = ['--image', demo_image] + (['--backbone-only'] if what == 'backbone' else [])
    config = CONFIGS[('segmentor' if what == 'backbone' else what, arch)]
    proc = export(config, out, *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    diffs = max_diffs(proc.stdout)
    assert len(diffs) == 2 and max(diffs) <= 1e-4
    assert out.is_file() and [p.name for p in tmp_path.iterdir()] == [out.name]
