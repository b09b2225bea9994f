import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mvit3_dense.models.seg import MobileViTv3ASPPHead
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT

CONFIG_DIR = REPO_ROOT / 'configs'

# The authors' DeepLabv3 parameter counts (spec; reference segmentation.tsv): the eval-time model,
# and the v2-based auxiliary FCN head on its own.
PARAMS = {
    'deeplabv3_mobilevitv3-s_4xb12-50e_voc12aug-512x512.py': (7_205_621, 0),
    'deeplabv3_mobilevitv3-xs_4xb12-50e_voc12aug-512x512.py': (3_269_669, 0),
    'deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py': (1_956_309, 0),
    'deeplabv3_mobilevitv3-1.0_4xb32-50e_voc12aug-512x512.py': (13_556_222, 445_333),
    'deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py': (6_301_710, 224_149),
    'deeplabv3_mobilevitv3-1.0_4xb4-120e_ade20k-512x512.py': (13_622_399, 461_974),
    'deeplabv3_mobilevitv3-0.75_4xb4-120e_ade20k-512x512.py': (9_710_087, 351_382),
    'deeplabv3_mobilevitv3-0.5_4xb4-120e_ade20k-512x512.py': (6_367_887, 240_790),
}
V1_CONFIG = 'deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'
V2_CONFIG = 'deeplabv3_mobilevitv3-0.5_4xb32-50e_voc12aug-512x512.py'


def count(module):
    return sum(p.numel() for p in module.parameters())


def build(name, **backbone):
    """Config and model (BN, no Pretrained init: no converted weights needed to count or run)."""
    cfg = Config.fromfile(CONFIG_DIR / 'deeplabv3' / name)
    init_cfg = cfg.model.backbone.init_cfg
    assert init_cfg.type == 'Pretrained' and init_cfg.checkpoint == cfg.checkpoint
    model, cfg = build_model_from_config(
        cfg, {f'model.backbone.{key}': value for key, value in backbone.items()})
    return cfg, model


def test_every_seg_config_is_covered():
    found = {p.name for p in (CONFIG_DIR / 'deeplabv3').glob('*.py')}
    assert found == set(PARAMS)


@pytest.mark.parametrize('name', sorted(PARAMS))
def test_param_counts_match_the_authors(name):
    cfg, model = build(name)
    total, aux = PARAMS[name]
    assert count(model) - (count(model.auxiliary_head) if model.with_auxiliary_head else 0) == total
    assert (count(model.auxiliary_head) if model.with_auxiliary_head else 0) == aux
    assert isinstance(model.decode_head, MobileViTv3ASPPHead)
    # The recipe pieces every config carries.
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.model.backbone.with_exp_conv is False
    assert cfg.model.backbone.output_stride == (8 if 'ade20k' in name else 16)
    hooks = [h.type for h in cfg.custom_hooks]
    assert hooks == ['EMAHook'] and cfg.custom_hooks[0].momentum == 0.0005
    assert cfg.custom_imports.imports == ['mvit3_dense']


@pytest.mark.parametrize('name, dropout, cls_dropout, align_corners', [
    (V1_CONFIG, torch.nn.Dropout, True, False),
    (V2_CONFIG, torch.nn.Dropout2d, False, True),
])
def test_family_flavours(name, dropout, cls_dropout, align_corners):
    _, model = build(name)
    head = model.decode_head
    assert type(head.aspp_dropout) is dropout and head.aspp_dropout.p == 0.1
    assert (head.dropout is not None) == cls_dropout
    assert head.bottleneck.conv.kernel_size == (1, 1)
    assert head.align_corners is align_corners
    if model.with_auxiliary_head:
        assert model.auxiliary_head.align_corners is align_corners
        assert model.auxiliary_head.loss_decode.loss_weight == 0.4


def _batch(model, size, num_classes, n=2):
    images = [torch.randint(0, 256, (3, *size), dtype=torch.uint8) for _ in range(n)]
    samples = []
    for _ in range(n):
        sample = SegDataSample()
        label = torch.randint(0, num_classes, (1, *size))
        label[:, :4] = 255
        sample.gt_sem_seg = PixelData(data=label)
        sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
        samples.append(sample)
    return dict(inputs=images, data_samples=samples)


@pytest.mark.parametrize('name', [V1_CONFIG, V2_CONFIG])
def test_one_train_iteration_and_inference(name):
    torch.manual_seed(0)
    cfg, model = build(name, arch='xxs' if name == V1_CONFIG else '0.5')
    cfg.model.data_preprocessor.size = (96, 96)
    model.data_preprocessor.size = (96, 96)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    losses = model.train_step(_batch(model, (96, 96), 21), optim)
    expected = {'decode.loss_ce', 'decode.acc_seg'}
    if model.with_auxiliary_head:
        expected |= {'aux.loss_ce', 'aux.acc_seg'}
    assert expected <= set(losses)
    assert torch.isfinite(losses['loss'])
    after = model.state_dict()
    assert not torch.equal(before['decode_head.conv_seg.weight'], after['decode_head.conv_seg.weight'])
    assert not torch.equal(before['backbone.stem.conv.weight'], after['backbone.stem.conv.weight'])

    model.eval()
    with torch.no_grad():
        results = model.test_step(_batch(model, (96, 96), 21, n=1))
    assert results[0].pred_sem_seg.data.shape == (1, 96, 96)
    assert results[0].seg_logits.data.shape == (21, 96, 96)


def test_odd_size_inference_returns_mask_of_input_size():
    from mmseg.apis import inference_model, init_model
    cfg = Config.fromfile(CONFIG_DIR / 'deeplabv3' / V1_CONFIG)
    cfg.model.backbone.init_cfg = None
    model = init_model(cfg, device='cpu')
    image = np.random.default_rng(0).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    result = inference_model(model, image)
    assert result.pred_sem_seg.data.shape == (1, 375, 500)
    assert result.seg_logits.data.shape == (21, 375, 500)


V1_ARCHS = ('s', 'xs', 'xxs', 's-l2', 'xs-l2', 'xxs-l2')


@pytest.mark.parametrize('name', sorted(PARAMS))
def test_every_config_follows_its_familys_input_and_evaluation_convention(name):
    """v1-based: cv2 BGR, cv2 bilinear 512x512, NEAREST back to the original size; v2-based: PIL
    RGB, bicubic shorter side 512 (truncated), one bilinear resize of the logits (reference
    pipeline/README.md, section 2 and its list of differences)."""
    cfg = Config.fromfile(CONFIG_DIR / 'deeplabv3' / name)
    v1 = cfg.model.backbone.arch in V1_ARCHS
    preprocessor = cfg.model.data_preprocessor
    assert (preprocessor.mean, preprocessor.std) == ([0., 0., 0.], [255., 255., 255.])
    assert preprocessor.bgr_to_rgb is not v1
    assert cfg.model.type == 'MobileViTv3EncoderDecoder'
    assert cfg.model.stride_align_corners is not v1
    assert cfg.model.logits_to_original == ('nearest' if v1 else 'bilinear')
    assert cfg.model.get('input_stride') is None  # the backbone's output stride

    test = [dict(t) for t in cfg.test_dataloader.dataset.pipeline]
    train = [dict(t) for t in cfg.train_dataloader.dataset.datasets[0].pipeline] \
        if 'datasets' in cfg.train_dataloader.dataset else \
        [dict(t) for t in cfg.train_dataloader.dataset.pipeline]
    for pipeline in (test, train):
        load = pipeline[0]
        assert load['type'] == 'LoadImageFromFile'
        if v1:
            assert load.get('imdecode_backend', 'cv2') == 'cv2'
            assert load.get('color_type', 'color') == 'color'
        else:
            assert (load['imdecode_backend'], load['color_type']) == ('pillow',
                                                                     'color_ignore_orientation')
    types = [t['type'] for t in test]
    assert types.index('LoadAnnotations') > 1  # ground truth at the original size
    resize = test[1]
    if v1:
        assert resize == dict(type='Resize', scale=(512, 512), keep_ratio=False, backend='cv2',
                              interpolation='bilinear')
    else:
        assert resize == dict(type='ShortSideResize', short_side=512, backend='pillow',
                              interpolation='bicubic')
        random_resize = next(t for t in train if t['type'] == 'RandomChoiceResize')
        assert (random_resize['backend'], random_resize['interpolation']) == ('pillow', 'bicubic')
    assert cfg.test_evaluator.type == 'ConfusionMatrixIoUMetric'
    assert cfg.val_evaluator.type == 'ConfusionMatrixIoUMetric'


@pytest.mark.parametrize('name, size, ori', [
    (V1_CONFIG, (200, 300), (150, 170)),
    (V2_CONFIG, (200, 300), (410, 333)),
    ('deeplabv3_mobilevitv3-0.5_4xb4-120e_ade20k-512x512.py', (205, 270), (300, 211)),
])
def test_predict_floors_to_the_stride_and_resizes_the_logits_as_the_authors(name, size, ori):
    _, model = build(name)
    model.eval()
    stride = model.backbone.output_stride
    inputs = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    sample = SegDataSample()
    sample.set_metainfo(dict(img_shape=size, ori_shape=ori, pad_shape=size))
    v1 = model.logits_to_original == 'nearest'
    with torch.no_grad():
        result = model.predict(inputs, [sample])[0]
        floored = torch.nn.functional.interpolate(
            inputs, size=(size[0] // stride * stride, size[1] // stride * stride),
            mode='bilinear', align_corners=not v1)
        logits = model.decode_head(model.extract_feat(floored))
        if v1:
            logits = torch.nn.functional.interpolate(logits, size=floored.shape[2:],
                                                     mode='bilinear', align_corners=False)
            expected = torch.nn.functional.interpolate(logits, size=ori, mode='nearest')
        else:
            expected = torch.nn.functional.interpolate(logits, size=ori, mode='bilinear',
                                                       align_corners=True)
    assert torch.equal(result.seg_logits.data, expected[0])
    assert torch.equal(result.pred_sem_seg.data, expected[0].argmax(0, keepdim=True))


def test_padded_test_inputs_are_refused():
    _, model = build(V1_CONFIG)
    model.eval()
    sample = SegDataSample()
    sample.set_metainfo(dict(img_shape=(64, 64), ori_shape=(60, 64), padding_size=[0, 0, 0, 4]))
    with pytest.raises(ValueError, match='the authors never pad'):
        model.predict(torch.zeros(1, 3, 64, 64), [sample])
