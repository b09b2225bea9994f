"""The model zoo metadata (model-index.yml, metafiles) describes configs that exist and build."""
import pytest
import yaml

from mvit3_dense.utils.model_builder import build_model_from_config

from .conftest import REPO_ROOT


def zoo_models():
    index = yaml.safe_load((REPO_ROOT / 'model-index.yml').read_text())
    models = []
    for metafile in index['Import']:
        models += yaml.safe_load((REPO_ROOT / metafile).read_text())['Models']
    return models


def test_every_config_is_in_the_zoo():
    listed = {m['Config'] for m in zoo_models()}
    for folder in ('deeplabv3', 'ssdlite', 'mobilevitv3', 'mobilevitv1', 'mobilevitv2'):
        for config in (REPO_ROOT / 'configs' / folder).glob('*.py'):
            assert str(config.relative_to(REPO_ROOT)) in listed


@pytest.mark.parametrize('entry', zoo_models(), ids=lambda m: m['Name'])
def test_zoo_entry_matches_its_config(entry):
    assert entry['Config'].endswith(entry['Name'] + '.py')
    model, _ = build_model_from_config(REPO_ROOT / entry['Config'])
    # Published counts are of the evaluated network: the auxiliary head only trains.
    params = sum(p.numel() for name, p in model.named_parameters()
                 if not name.startswith('auxiliary_head.'))
    assert params == entry['Metadata']['Parameters']
