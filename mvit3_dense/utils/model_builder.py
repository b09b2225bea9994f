from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import MODELS, init_default_scope


def build_model_from_config(config, cfg_options=None, load_pretrained=False):
    """The model of a config file, built for single-process use (analysis, export, demos).

    SyncBN becomes BN (it needs a process group to train), and unless ``load_pretrained`` the
    backbone's ``Pretrained`` init is dropped: shapes, speed and export do not depend on it.
    Returns ``(model, cfg)``.
    """
    cfg = config if isinstance(config, Config) else Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmengine'))
    if not load_pretrained:
        cfg.model.get('backbone', {}).pop('init_cfg', None)
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    return model, cfg
