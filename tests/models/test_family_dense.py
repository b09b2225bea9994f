"""DeepLabv3 and SSDLite on MobileViTv1 and MobileViTv2, built from this project's configs with its
own heads, have Apple's parameter counts to the unit, module by module.

Apple's tables (``segmentation.tsv``, ``detection.tsv``; a copy ships in ``tests/data/apple``,
checked against the references by ``test_family_params.py``) split each model into encoder, head
(ASPP + classifier), auxiliary head, SSD extra layers and SSD heads. PSPNet (ADE20K) is in the table
but has no config here.
"""
import pytest
import torch

from mvit3_dense.utils.model_builder import build_model_from_config

from ..conftest import REPO_ROOT
from .test_family_params import read_table

CONFIGS = REPO_ROOT / 'configs'
SEGMENTATION = read_table('segmentation.tsv')
DETECTION = read_table('detection.tsv')


def count(module):
    return sum(p.numel() for p in module.parameters())


def variant(model):
    """'DeepLabv3-MobileViTv1-XXS' -> ('mobilevitv1', 'xxs')."""
    family, name = model.split('-')[-2:]
    return family.lower(), name.lower()


def seg_config(row):
    family, name = variant(row['model'])
    run = '4xb32-50e_voc12aug-512x512' if row['dataset'] == 'VOC' else '4xb4-120e_ade20k-512x512'
    return CONFIGS / family / f'deeplabv3_{family}-{name}_{run}.py'


def det_config(row):
    family, name = variant(row['model'])
    return CONFIGS / family / f'ssdlite_{family}-{name}_4xb32-200e_coco-320x320.py'


DEEPLABV3 = [r for r in SEGMENTATION if r['model'].startswith('DeepLabv3-')]


def test_every_published_dense_model_has_a_config():
    assert len(DEEPLABV3) == 3 + 7 + 7 and len(DETECTION) == 3 + 7
    for row in DEEPLABV3:
        assert seg_config(row).is_file(), row['model']
    for row in DETECTION:
        assert det_config(row).is_file(), row['model']
    # The rows left: PSPNet on ADE20K, seven widths.
    assert sorted({r['model'].split('-')[0] for r in SEGMENTATION if r not in DEEPLABV3}) == \
        ['PSPNet']


@pytest.mark.parametrize('row', DEEPLABV3, ids=[f"{r['model']}-{r['dataset']}" for r in DEEPLABV3])
def test_deeplabv3_counts_match_apple(row):
    model, cfg = build_model_from_config(seg_config(row))
    head = model.decode_head
    aux = getattr(model, 'auxiliary_head', None)
    aux_params = 0 if aux is None else count(aux)
    assert (aux is not None) == (row['use_aux_head'] == 'True')
    assert count(model) == int(row['params_total_incl_aux'])
    assert count(model) - aux_params == int(row['params_total_without_aux'])
    assert count(model.backbone) == int(row['params_encoder'])
    assert count(head) == int(row['params_head_without_aux'])
    assert count(head) - count(head.conv_seg) == int(row['params_aspp_or_psp'])
    assert count(head.conv_seg) == int(row['params_classifier'])
    assert aux_params == int(row['params_aux_head'])
    # The table's settings: output stride, ASPP width and rates, classes.
    assert model.backbone.output_stride == int(row['output_stride'])
    assert head.channels == int(row['head_out_channels'])
    assert list(head.dilations[1:]) == eval(row['aspp_rates_or_psp_pool_sizes'])
    assert head.num_classes == int(row['n_classes'])


@pytest.mark.parametrize('row', DETECTION, ids=[r['model'] for r in DETECTION])
def test_ssdlite_counts_and_anchors_match_apple(row):
    model, cfg = build_model_from_config(det_config(row))
    assert count(model) == int(row['params_total'])
    assert count(model.backbone) == int(row['params_encoder'])
    assert count(model.neck) == int(row['params_extra_layers'])
    assert count(model.bbox_head) == int(row['params_ssd_heads'])
    assert count(model) - count(model.backbone) - count(model.neck) - count(model.bbox_head) == \
        int(row['params_other'])
    head = model.bbox_head
    assert head.proj_channels == eval(row['proj_channels'])
    assert head.num_base_priors == eval(row['anchors_per_location'])
    assert head.num_classes + 1 == int(row['n_classes_incl_background'])
    # Anchors of one 320x320 image: the six maps of the network at that input.
    with torch.no_grad():
        maps = model.extract_feat(torch.zeros(1, 3, 320, 320))
    sizes = [m.shape[-2:] for m in maps]
    assert [tuple(s) for s in sizes] == [(20, 20), (10, 10), (5, 5), (3, 3), (2, 2), (1, 1)]
    anchors = head.prior_generator.grid_priors(sizes, device='cpu', input_size=(320, 320))
    assert sum(len(a) for a in anchors) == int(row['total_anchors_320']) == 3232
