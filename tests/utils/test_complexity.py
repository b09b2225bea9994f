import pytest
from mmengine.registry import init_default_scope

from mvit3_dense.utils.complexity import model_complexity

from ..models.test_backbone import PARAMS, classifier_cfg

# MACs at 256x256 reported by the authors' profiler (spec; reference params.tsv), and by
# torch.utils.flop_counter for three of them.
AUTHORS_MACS = {'s': 1841.4e6, 'xs': 927.0e6, 'xxs': 289.0e6, 's-l2': 1652.0e6,
                'xs-l2': 852.8e6, 'xxs-l2': 256.0e6, '1.0': 1876.0e6, '0.75': 1064.5e6,
                '0.5': 481.3e6}
STANDARD_MACS = {'s': 1_832_711_680, 'xxs': 332_163_072, '0.5': 479_799_296}


@pytest.mark.parametrize('arch', list(AUTHORS_MACS))
def test_macs_match_the_authors_profiler(arch):
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    rows = model_complexity(MODELS.build(classifier_cfg(arch)), (256, 256))
    total = rows['total']
    assert total['params'] == PARAMS[arch][0]
    assert total['authors'] == pytest.approx(AUTHORS_MACS[arch], rel=0.01)
    if arch in STANDARD_MACS:
        assert total['standard'] == pytest.approx(STANDARD_MACS[arch], rel=0.001)
    stages = [name for name in rows if name.startswith('backbone.')]
    assert sum(rows[n]['params'] for n in rows if n != 'total') == total['params']
    assert sum(rows[n]['authors'] for n in rows if n != 'total') == total['authors']
    assert stages[:6] == ['backbone.stem'] + [f'backbone.layer{i}' for i in range(1, 6)]
