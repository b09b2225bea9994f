import pytest
import torch
from mmengine.runner import load_checkpoint

import mvit3_dense  # noqa: F401
from mvit3_dense.converters import ConversionError, convert_checkpoint_file
from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT

XXS_VOC = 'configs/deeplabv3/deeplabv3_mobilevitv3-xxs_4xb12-50e_voc12aug-512x512.py'


@pytest.fixture(scope='module')
def converted_deeplab(reference_dir, tmp_path_factory):
    dst = tmp_path_factory.mktemp('seg') / 'deeplabv3_xxs_voc.pth'
    info = convert_checkpoint_file(
        reference_dir / 'fixtures' / 'deeplabv3_mobilevitv3_xxs_voc_state_dict.pt', dst,
        kind='segmentor', progress=False)
    return dst, info


def test_variant_dataset_and_config_are_detected(converted_deeplab):
    _, info = converted_deeplab
    assert (info['arch'], info['num_classes'], info['dataset']) == ('xxs', 21, 'voc12aug')
    assert info['config'].endswith(XXS_VOC.split('/')[-1]) and info['kept'] == []


@pytest.mark.parametrize('name', ['io', 'io_nonsquare'])
def test_logits_equal_the_authors(reference_dir, converted_deeplab, name):
    model, _ = build_model_from_config(REPO_ROOT / XXS_VOC)
    load_checkpoint(model, str(converted_deeplab[0]), map_location='cpu', strict=True)
    model.eval()
    io = torch.load(reference_dir / 'fixtures' / f'deeplabv3_mobilevitv3_xxs_voc_{name}.pt',
                    weights_only=True)
    x = io['x']
    metas = [dict(img_shape=x.shape[2:], ori_shape=x.shape[2:], pad_shape=x.shape[2:])]
    with torch.no_grad():
        feats = model.extract_feat(x)
        aspp = model.decode_head._forward_feature(feats)
        logits = model.encode_decode(x, metas)
    # Relative to the output's magnitude: the fixture's randomised BN makes logits large.
    for ours, key in [(feats[-1], 'backbone_l5'), (aspp, 'aspp_out'), (logits, 'logits')]:
        assert ours.shape == io[key].shape, key
        relative = ((ours - io[key]).abs().max() / io[key].abs().max()).item()
        assert relative <= 1e-4, (key, relative)


def test_refuses_a_config_of_another_variant(reference_dir, tmp_path):
    other = REPO_ROOT / 'configs/deeplabv3/deeplabv3_mobilevitv3-xs_4xb12-50e_voc12aug-512x512.py'
    with pytest.raises(ConversionError, match='holds DeepLabv3 MobileViTv3-xxs but'):
        convert_checkpoint_file(
            reference_dir / 'fixtures' / 'deeplabv3_mobilevitv3_xxs_voc_state_dict.pt',
            tmp_path / 'out.pth', kind='segmentor', config=str(other), progress=False)
    assert not (tmp_path / 'out.pth').exists()


def test_refuses_a_classifier_as_segmentor(reference_dir, tmp_path):
    with pytest.raises(ConversionError, match="not a DeepLabv3 checkpoint of the authors' code"):
        convert_checkpoint_file(reference_dir / 'fixtures' / 'mobilevitv3_xxs_state_dict.pt',
                                tmp_path / 'out.pth', kind='segmentor', progress=False)
    assert not (tmp_path / 'out.pth').exists()
