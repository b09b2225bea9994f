"""The MobileViTv3 authors' own models, built from a checkout of their code, as speed baselines.

The authors' code is apple/ml-cvnets with the files of micronDLA/MobileViTv3 copied over it, one
tree per family (``tools/analysis_tools/prepare_authors_code.sh`` builds both)::

    DIR/v1   ml-cvnets d38a116 + MobileViTv3-v1/   (S, XS, XXS and the L2 forms)
    DIR/v2   ml-cvnets 84d992f + MobileViTv3-v2/   (widths 0.5, 0.75, 1.0)

Models are built the way the authors' entry points build them: their argument parser, their
yaml through ``load_config_file``, a few option overrides, then ``cvnets.get_model``.

One tree per process: both trees define the same top-level packages (``cvnets``, ``options``,
``utils``, ``data``, ...), and the authors' code imports them by those names, some of them lazily
inside functions, so two trees cannot share ``sys.modules``, and removing a tree's modules after
building a model would leave its lazy imports to whatever is found next. The first tree loaded in
a process stays; asking for the other family raises an error that says to run it in its own
process. The benchmark times one config, hence one family, per run.
"""
import collections
import collections.abc
import contextlib
import importlib
import importlib.util
import io
import os
import os.path as osp
import sys
import types
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

__all__ = [
    'AUTHORS_COMMITS', 'MOBILEVITV3_COMMIT', 'TASKS', 'AuthorsSpec', 'authors_spec', 'family_of', 'load_authors_model',
    'AuthorsBackbone', 'AuthorsNetwork', 'count_parameters'
]

# The commits the authors' README names (micronDLA/MobileViTv3 README.md, sections
# "MobileViTv3-S,XS,XXS" and "MobileViTv3-1.0,0.75,0.5"), and the overlay folder of each family.
AUTHORS_COMMITS = {
    'v1': dict(cvnets='d38a116fe134a8cd5db18670764fdaafd39a5d4f', overlay='MobileViTv3-v1'),
    'v2': dict(cvnets='84d992f413e52c0468f86d23196efd9dad885e6f', overlay='MobileViTv3-v2'),
}
MOBILEVITV3_COMMIT = 'd381beb017ae3c244686afaa48064f95865df7b9'

# v1-based sizes: the yaml's size word and the ``mit.mode`` of each arch (the L2 forms are the
# ``*_v3_fast`` modes of the same yamls: cvnets/models/classification/config/mobilevit.py of
# MobileViTv3-v1, modes xx_small_v3_fast / x_small_v3_fast / small_v3_fast; the authors ship no
# yaml of their own for them).
_V1 = {
    's': ('small', 'small_v3'), 'xs': ('x_small', 'x_small_v3'),
    'xxs': ('xx_small', 'xx_small_v3'), 's-l2': ('small', 'small_v3_fast'),
    'xs-l2': ('x_small', 'x_small_v3_fast'), 'xxs-l2': ('xx_small', 'xx_small_v3_fast'),
}
_V2_WIDTHS = {'0.5': 0.5, '0.75': 0.75, '1.0': 1.0}
_SEG_DATASETS = {21: 'pascal_voc', 150: 'ade20k'}
TASKS = ('classification', 'segmentation', 'detection')

# Top-level packages of an ml-cvnets tree: a module of these names already imported from
# elsewhere would shadow the tree's own.
_TREE_PACKAGES = ('cvnets', 'options', 'utils', 'data', 'common', 'engine', 'loss_fn', 'metrics',
                  'optim')
_loaded_root: Optional[str] = None


class AuthorsSpec:
    """Which of the authors' trees, yaml and option overrides build one variant."""

    def __init__(self, family: str, config: str, overrides: Dict[str, object], task: str):
        self.family = family
        self.config = config
        self.overrides = overrides
        self.task = task

    def __repr__(self) -> str:
        return (f'AuthorsSpec(family={self.family!r}, config={self.config!r}, '
                f'overrides={self.overrides!r}, task={self.task!r})')


def family_of(arch: str) -> str:
    """``'v1'`` for S/XS/XXS and the L2 forms, ``'v2'`` for the widths."""
    arch = str(arch)
    if arch in _V1:
        return 'v1'
    if arch in _V2_WIDTHS:
        return 'v2'
    raise ValueError(f'no authors\' model for arch {arch!r}: choose one of '
                     f'{sorted(_V1) + sorted(_V2_WIDTHS)}')


def authors_spec(arch: str, task: str = 'classification',
                 num_classes: Optional[int] = None) -> AuthorsSpec:
    """The authors' yaml (path inside the family's tree) and overrides for one variant.

    ``num_classes``: the classes of this project's head (segmentation: 21 = VOC, 150 = ADE20K;
    detection: 80 COCO classes, the authors count the background too). Overrides besides the size
    and the classes: no pretrained encoder (the yamls name the authors' local files) and plain
    BatchNorm for SyncBN, as the authors' single-process entry points do (ml-cvnets 84d992f
    main_benchmark.py:44-47).
    """
    if task not in TASKS:
        raise ValueError(f'task must be one of {TASKS}, got {task!r}')
    family = family_of(arch)
    overrides: Dict[str, object] = {'model.classification.pretrained': None,
                                    'model.normalization.name': 'batch_norm'}
    if family == 'v1':
        size, mode = _V1[str(arch)]
        overrides['model.classification.mit.mode'] = mode
        if task == 'classification':
            config = f'config/classification/mobilevitv3_{size}_oneserver.yaml'
        elif task == 'segmentation':
            if str(arch).endswith('-l2'):
                raise ValueError(f'the authors have no segmentation model for {arch!r} (their '
                                 'L2 forms are classifiers only)')
            if num_classes not in (None, 21):
                raise ValueError(f'the authors\' v1-based DeepLabv3 is a PASCAL VOC model (21 '
                                 f'classes), not {num_classes} classes')
            config = f'config/segmentation/deeplabv3_mobilevitv3_{size}.yaml'
            overrides['model.segmentation.n_classes'] = 21
        else:
            if str(arch).endswith('-l2'):
                raise ValueError(f'the authors have no detection model for {arch!r} (their L2 '
                                 'forms are classifiers only)')
            config = f'config/detection/ssd_mobilevitv3_{size}_320.yaml'
            overrides['model.detection.n_classes'] = (num_classes or 80) + 1
    else:
        overrides['model.classification.mitv3.width_multiplier'] = _V2_WIDTHS[str(arch)]
        if task == 'classification':
            # A yaml despite its name (micronDLA/MobileViTv3 MobileViTv3-v2/config/...).
            config = 'config/classification/imagenet/mobilevit_v3_oneserver.py'
        elif task == 'segmentation':
            num_classes = 21 if num_classes is None else num_classes
            if num_classes not in _SEG_DATASETS:
                raise ValueError(f'the authors\' v2-based DeepLabv3 exists for PASCAL VOC (21 '
                                 f'classes) and ADE20K (150), not {num_classes} classes')
            config = (f'config/segmentation/{_SEG_DATASETS[num_classes]}/'
                      'deeplabv3_mobilevitv3.yaml')
            overrides['model.segmentation.n_classes'] = num_classes
        else:
            config = 'config/detection/ssd_coco/mobilevit_v3.yaml'
            overrides['model.detection.n_classes'] = (num_classes or 80) + 1
    return AuthorsSpec(family, config, overrides, task)


def _install_shims() -> None:
    """What the authors' code needs on Python 3.11 without changing a file of it.

    ``collections.MutableMapping`` (removed in 3.10) is used by the v1 yaml loader; v2's
    ``options/opts.py`` imports the ``av`` video reader and ``data/datasets/dataset_base.py``
    imports ``psutil`` (RAM caching): neither is used to build a model, so empty modules stand in
    when they are not installed.
    """
    if not hasattr(collections, 'MutableMapping'):
        collections.MutableMapping = collections.abc.MutableMapping
    for name in ('av', 'psutil'):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = types.ModuleType(name)


def _tree_root(code_dir: str, family: str) -> str:
    root = osp.abspath(osp.join(code_dir, family))
    if not osp.isfile(osp.join(root, 'cvnets', '__init__.py')):
        raise FileNotFoundError(
            f'{root} is not a checkout of the authors\' {family} code (no cvnets/__init__.py): '
            'build it with tools/analysis_tools/prepare_authors_code.sh ' + code_dir)
    return root


def _enter_tree(root: str) -> None:
    global _loaded_root
    if _loaded_root == root:
        return
    if _loaded_root is not None:
        raise RuntimeError(f'the authors\' code of {_loaded_root} is already imported in this '
                           f'process; {root} defines the same packages (cvnets, options, utils, '
                           '...): load it in a process of its own')
    for name in _TREE_PACKAGES:
        module = sys.modules.get(name)
        if module is not None and not osp.abspath(getattr(module, '__file__', '') or
                                                  '').startswith(root + os.sep):
            raise RuntimeError(f'a module named {name!r} is already imported from '
                               f'{getattr(module, "__file__", None)}: it would hide the '
                               f'authors\' {name} package of {root}; load their model in a '
                               'process that has not imported it')
    _install_shims()
    sys.path.insert(0, root)
    _loaded_root = root


def load_authors_model(code_dir: str, spec: AuthorsSpec) -> nn.Module:
    """The authors' model of ``spec``, built by their ``cvnets.get_model``, in eval mode.

    ``code_dir`` holds the trees ``v1`` and ``v2`` (see the module docstring). What the authors'
    code prints while building goes into the error message when it fails (their logger exits
    the process on errors: that becomes a ``RuntimeError`` here).
    """
    root = _tree_root(code_dir, spec.family)
    config = osp.join(root, spec.config)
    if not osp.isfile(config):
        raise FileNotFoundError(f'the authors\' config {config} is missing: {root} is not the '
                                'documented checkout (rebuild it with '
                                'tools/analysis_tools/prepare_authors_code.sh)')
    _enter_tree(root)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            opts_module = importlib.import_module('options.opts')
            options_utils = importlib.import_module('options.utils')
            cvnets = importlib.import_module('cvnets')
            opts = opts_module.get_training_arguments(parse_args=False).parse_args(
                ['--common.config-file', config])
            opts = options_utils.load_config_file(opts) or opts
            for key, value in spec.overrides.items():
                setattr(opts, key, value)
            model = cvnets.get_model(opts)
    except (Exception, SystemExit) as error:
        raise RuntimeError(f'the authors\' code could not build {spec}: {error!r}\n'
                           f'it printed:\n{printed.getvalue()[-2000:]}') from None
    model.eval()
    return model


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _as_tensors(outputs) -> Tuple[torch.Tensor, ...]:
    if isinstance(outputs, torch.Tensor):
        return (outputs, )
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    return tuple(t for o in outputs for t in _as_tensors(o))


class AuthorsBackbone(nn.Module):
    """The authors' image encoder up to ``layer_5`` (and ``conv_1x1_exp`` when asked), as their
    dense heads call it (``extract_end_points_all``, ml-cvnets base_cls.py), returning its stage
    outputs.

    Only the modules it runs are held, so its parameter count is comparable with a backbone's.
    """

    def __init__(self, model: nn.Module, with_conv_1x1_exp: bool = False):
        super().__init__()
        encoder = getattr(model, 'encoder', model)
        names = ['conv_1', 'layer_1', 'layer_2', 'layer_3', 'layer_4', 'layer_5']
        if with_conv_1x1_exp:
            names.append('conv_1x1_exp')
        self.stages = nn.ModuleDict({name: getattr(encoder, name) for name in names})

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs: List[torch.Tensor] = []
        for stage in self.stages.values():
            x = stage(x)
            outs.append(x)
        return tuple(outs[1:])


class AuthorsNetwork(nn.Module):
    """The authors' whole network forward, without post-processing, as tensors.

    Classification: logits. Segmentation: logits at the input size (their head up-samples), and
    the auxiliary head's while training. Detection: raw class and box predictions; the v2-based
    SSD's ``forward`` runs NMS in eval mode, so its network part (``get_backbone_features`` and
    ``ssd_forward``, ml-cvnets 84d992f cvnets/models/detection/ssd.py:364-398) is called instead.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self._ssd_v2 = hasattr(model, 'get_backbone_features') and hasattr(model, 'ssd_forward')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        if self._ssd_v2:
            feats = self.model.get_backbone_features(x)
            return _as_tensors(self.model.ssd_forward(end_points=feats, device=x.device))
        return _as_tensors(self.model(x))
