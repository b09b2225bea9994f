import pytest
import torch
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import ConversionError, convert_checkpoint_file
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from ..models.test_seg_pretrained import XXS_IO, deeplabv3_xxs_reference, relative_error

XXS_VOC = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'


@pytest.fixture(scope='module')
def converted_deeplab(tmp_path_factory):
    """The authors' DeepLabv3-XXS (reference folder, else the shipped copy), converted."""
    weights, _ = deeplabv3_xxs_reference('io')
    dst = tmp_path_factory.mktemp('seg') / 'deeplabv3_xxs_voc.pth'
    info = convert_checkpoint_file(weights, dst, kind='segmentor', progress=False)
    return dst, info


def test_variant_dataset_and_config_are_detected(converted_deeplab):
    _, info = converted_deeplab
    assert (info.kind, info.arch, info.num_classes, info.meta['dataset']) == (
        'segmentor', 'xxs', 21, 'voc12aug')
    assert info.config.endswith(XXS_VOC.split('/')[-1]) and info.initialised == ()
    assert info.meta['with_aux'] is False


@pytest.mark.parametrize('name', XXS_IO)
def test_logits_equal_the_authors(converted_deeplab, name):
    model, _ = build_model_from_config(REPO_ROOT / XXS_VOC)
    load_checkpoint(model, str(converted_deeplab[0]), map_location='cpu', strict=True)
    model.eval()
    _, io = deeplabv3_xxs_reference(name)
    x = io['x']
    metas = [dict(img_shape=x.shape[2:], ori_shape=x.shape[2:], pad_shape=x.shape[2:])]
    with torch.no_grad():
        feats = model.extract_feat(x)
        aspp = model.decode_head._forward_feature(feats)
        logits = model.encode_decode(x, metas)[..., ::io['step'], ::io['step']]
    for ours, key, scale in [(feats[-1], 'backbone_l5', None), (aspp, 'aspp_out', None),
                             (logits, 'logits', io['logits_absmax'])]:
        assert ours.shape == io[key].shape, key
        relative = relative_error(ours, io[key], scale)
        assert relative <= 1e-4, (key, relative)


def test_refuses_a_config_of_another_variant(tmp_path):
    weights, _ = deeplabv3_xxs_reference('io')
    other = REPO_ROOT / 'configs/deeplabv3/deeplabv3_mobilevitv3-xs_4xb12-50e_voc12aug-512x512.py'
    with pytest.raises(ConversionError, match='holds DeepLabv3 MobileViTv3-xxs but'):
        convert_checkpoint_file(weights, tmp_path / 'out.pth', kind='segmentor',
                                config=str(other), progress=False)
    assert not (tmp_path / 'out.pth').exists()


def test_refuses_a_classifier_as_segmentor(reference_dir, tmp_path):
    with pytest.raises(ConversionError, match="not a DeepLabv3 checkpoint of the authors' code"):
        convert_checkpoint_file(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt',
                                tmp_path / 'out.pth', kind='segmentor', progress=False)
    assert not (tmp_path / 'out.pth').exists()
