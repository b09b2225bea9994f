"""A non-editable install of the wheel works without the repository around it."""
import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

from .conftest import REPO_ROOT

SOURCES = ['pyproject.toml', 'setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml',
           'requirements', 'configs', 'mvit3_dense']
CHECK = textwrap.dedent('''
    import json, os
    import mvit3_dense
    from mmengine.config import Config
    from mmdet.registry import MODELS as DET
    from mmpretrain.registry import MODELS as CLS
    from mmseg.registry import MODELS as SEG
    from mvit3_dense.utils.config_paths import config_path, config_root
    cfg = Config.fromfile(str(config_path('ssdlite/ssdlite_mobilevitv3-xxs_4xb64-200e_coco-320x320.py')))
    print(json.dumps(dict(
        package=mvit3_dense.__file__, config_root=str(config_root()),
        configs=sorted(os.listdir(config_root())),
        registered=[r.get('MobileViTv3') is not None for r in (SEG, DET, CLS)],
        seg_head=SEG.get('MobileViTv3ASPPHead') is not None,
        det_head=DET.get('MobileViTv3SSDHead') is not None,
        arch=cfg.model.backbone.arch)))
''')


def test_wheel_installs_imports_registers_and_finds_its_configs(tmp_path):
    wheels, venv, source = tmp_path / 'wheels', tmp_path / 'venv', tmp_path / 'source'
    # Build from a copy of what the package is made of, so nothing is written into the checkout.
    source.mkdir()
    for name in SOURCES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name,
                            ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '-q']
    subprocess.run([*pip, 'wheel', '--no-deps', '--no-build-isolation', '-w', str(wheels),
                    str(source)], check=True, cwd=tmp_path)
    wheel, = wheels.glob('mvit3_dense-*.whl')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    subprocess.run([*pip, '--python', str(python), 'install', '--no-deps', '--no-index', str(wheel)],
                   check=True, cwd=tmp_path)
    # Reuse the installed stack (torch, mm*) without its editable finder for mvit3_dense: a plain
    # path line, unlike a site dir, does not run the .pth files found there.
    site = subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / 'stack.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    out = subprocess.run([str(python), '-c', CHECK], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['package'].startswith(str(venv)), result['package']
    assert result['config_root'].startswith(str(venv)) and result['config_root'].endswith('.mim/configs')
    assert result['configs'] == sorted(p.name for p in (REPO_ROOT / 'configs').iterdir())
    assert result['registered'] == [True, True, True]
    assert result['seg_head'] and result['det_head'] and result['arch'] == 'xxs'
