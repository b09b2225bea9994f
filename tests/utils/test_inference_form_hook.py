"""InferenceFormHook: the test loop runs a folded copy; the trained model is left as it was."""
from types import SimpleNamespace

import torch
from mmengine.config import Config

from mvit3_dense.engine import InferenceFormHook
from mvit3_dense.models import MobileViTv3
from mvit3_dense.utils.deploy import count_batch_norms
from mvit3_dense.utils.run_config import prepare_test_cfg

from ..conftest import REPO_ROOT


def test_test_loop_runs_a_folded_copy_and_gets_the_model_back():
    model = MobileViTv3('xxs').eval()
    runner = SimpleNamespace(model=model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)[0]
    hook = InferenceFormHook()
    hook.before_test_epoch(runner)
    assert runner.model is not model
    assert count_batch_norms(runner.model) == 0 and count_batch_norms(model) == 32
    with torch.no_grad():
        folded = runner.model(x)[0]
    assert ((folded - expected).abs().max() / expected.abs().max()).item() < 1e-5
    hook.after_test_epoch(runner)
    assert runner.model is model


def test_tools_test_adds_the_hook_unless_no_fuse(tmp_path, monkeypatch):
    from mvit3_dense.utils import run_config
    for check in ('check_data', 'check_evaluator_files', 'check_datasets'):
        monkeypatch.setattr(run_config, check, lambda *args, **kwargs: None)
    config = REPO_ROOT / 'configs' / 'demo' / 'mobilevitv3-xxs_1xb32-300it_demo-imagenet-96x96.py'
    checkpoint = tmp_path / 'model.pth'
    checkpoint.write_bytes(b'')
    for fuse, hooks in ((True, ['InferenceFormHook']), (False, [])):
        cfg = prepare_test_cfg(Config.fromfile(config), str(config), str(checkpoint),
                               work_dir=str(tmp_path), fuse=fuse)
        found = [h['type'] for h in cfg.get('custom_hooks', []) if h['type'] == 'InferenceFormHook']
        assert found == hooks
