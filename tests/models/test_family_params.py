"""Parameter counts of MobileViTv1 and MobileViTv2 equal Apple's ml-cvnets models, to the unit.

The tables are Apple's (reference folder ``apple/``, sibling of the MobileViTv3 references); a
copy of them ships in ``tests/data/apple`` so that a plain clone runs every comparison, and the
copy is checked against the full references where they are present.
"""
import csv

import pytest
from mmengine.registry import init_default_scope

from mvit3_dense.models import MobileViTv3

from ..conftest import REPO_ROOT, missing_reference, reference_root

SHIPPED = REPO_ROOT / 'tests' / 'data' / 'apple'
TABLES = ('params.tsv', 'segmentation.tsv', 'detection.tsv')


def read_table(name, folder=SHIPPED):
    with open(folder / name, newline='') as f:
        return list(csv.DictReader(f, delimiter='\t'))


def arch_name(model):
    """'...MobileViTv1-XXS' -> 'mobilevitv1-xxs', '...MobileViTv2-0.5' -> 'mobilevitv2-0.5'."""
    family, variant = model.split('-')[-2:]
    return f'{family.lower()}-{variant.lower()}'


def count(module):
    return sum(p.numel() for p in module.parameters())


CLASSIFIERS = read_table('params.tsv')
DENSE = [(row, row['model'], row['dataset']) for row in read_table('segmentation.tsv')] + \
        [(row, row['model'], row['dataset']) for row in read_table('detection.tsv')]


@pytest.mark.parametrize('row', CLASSIFIERS, ids=[r['variant'] for r in CLASSIFIERS])
def test_classifier_counts_match_apple(row):
    from mmpretrain.registry import MODELS
    arch = arch_name(row['variant'])
    backbone = MobileViTv3(arch=arch, init_cfg=None)
    without_exp = MobileViTv3(arch=arch, with_exp_conv=False, init_cfg=None)
    init_default_scope('mmpretrain')
    classifier = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='MobileViTv3', arch=arch, out_indices=(len(backbone.all_channels) - 1,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=1000, in_channels=backbone.all_channels[-1])))
    exp = 0 if backbone.conv_1x1_exp is None else count(backbone.conv_1x1_exp)
    assert count(classifier) == int(row['params_total'])
    assert count(classifier.head) == int(row['classifier_params'])
    assert count(backbone) == int(row['params_without_classifier'])
    assert exp == int(row['conv_1x1_exp_params'])
    assert count(without_exp) == int(row['params_without_classifier_and_conv_1x1_exp'])


@pytest.mark.parametrize('row,model,dataset', DENSE,
                         ids=[f'{model}-{dataset}' for _, model, dataset in DENSE])
def test_dense_encoder_counts_match_apple(row, model, dataset):
    # Apple's segmentation and detection encoders drop the classifier and conv_1x1_exp; they are
    # built at the task's output stride (detection: none set, a plain /32 backbone).
    output_stride = int(row.get('output_stride') or 32)
    encoder = MobileViTv3(arch=arch_name(model), output_stride=output_stride,
                          with_exp_conv=False, init_cfg=None)
    assert count(encoder) == int(row['params_encoder'])


def test_every_published_variant_is_compared():
    assert [arch_name(r['variant']) for r in CLASSIFIERS] == \
        ['mobilevitv1-xxs', 'mobilevitv1-xs', 'mobilevitv1-s'] + \
        [f'mobilevitv2-{w}' for w in ('0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '2.0')]
    assert len(DENSE) == 34


@pytest.mark.parametrize('name', TABLES)
def test_shipped_tables_equal_the_references(name):
    folder = reference_root().parent / 'apple'
    if not (folder / name).is_file():
        missing_reference(f"Apple's {name} not found in {folder}; set MVIT3_REFERENCE to a "
                          'folder whose sibling apple/ holds it')
    assert read_table(name, folder) == read_table(name)
