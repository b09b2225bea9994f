"""timm's MobileViT state dicts converted (source 'timm') give timm's logits on the same image,
each library with its own preprocessing; every timm MobileViT variant converts and loads."""
import pytest
import torch

from mvit3_dense.converters import ConversionError, convert, input_convention
from mvit3_dense.models import MobileViTv3

from ..conftest import relative_difference
from .third_party import TOLERANCE, our_logits, randomise, sample_image

timm = pytest.importorskip('timm', reason='timm is a test requirement (requirements/tests.txt)')

VARIANTS = {
    'mobilevit_xxs': 'mobilevitv1-xxs', 'mobilevit_xs': 'mobilevitv1-xs',
    'mobilevit_s': 'mobilevitv1-s', 'mobilevitv2_050': 'mobilevitv2-0.5',
    'mobilevitv2_075': 'mobilevitv2-0.75', 'mobilevitv2_100': 'mobilevitv2-1.0',
    'mobilevitv2_125': 'mobilevitv2-1.25', 'mobilevitv2_150': 'mobilevitv2-1.5',
    'mobilevitv2_175': 'mobilevitv2-1.75', 'mobilevitv2_200': 'mobilevitv2-2.0',
}


def test_every_timm_mobilevit_is_covered():
    assert sorted(timm.list_models('mobilevit*')) == sorted(VARIANTS)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_variant_converts_and_loads_strictly(name):
    model = timm.create_model(name, pretrained=False)
    result = convert(model.state_dict(), kind='backbone', source='timm')
    assert (result.arch, result.network, result.source_format) == (VARIANTS[name],
                                                                  result.network, 'timm')
    assert result.network == VARIANTS[name].split('-')[0]
    # The classifier is dropped; every other tensor has a home in our backbone.
    assert result.dropped == ('head.fc.weight', 'head.fc.bias')
    assert len(result.state_dict) == len(model.state_dict()) - 2
    backbone = MobileViTv3(arch=result.arch, init_cfg=None)
    backbone.load_state_dict(result.state_dict, strict=True)


@pytest.mark.parametrize('name', ['mobilevit_xxs', 'mobilevitv2_050'])
def test_logits_equal_timm_with_its_preprocessing(name):
    torch.manual_seed(0)
    model = randomise(timm.create_model(name, pretrained=False))
    rgb = sample_image()
    # timm's own evaluation transform, from the model's pretrained config.
    from PIL import Image
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with torch.no_grad():
        theirs = model(transform(Image.fromarray(rgb))[None])
    result = convert(model.state_dict(), kind='classifier', source='timm')
    convention = input_convention('timm', result.network)
    ours, inputs = our_logits(result, convention, rgb)
    assert inputs.shape == (1, 3, 256, 256)
    difference = relative_difference(ours, theirs)
    print(name, f'max |logit difference| / max |logit| = {difference:.2e}')
    assert difference <= TOLERANCE
    # The convention matters: RGB read as BGR gives other logits.
    swapped = dict(convention, data_preprocessor=dict(convention['data_preprocessor'],
                                                      to_rgb=False))
    assert relative_difference(our_logits(result, swapped, rgb)[0], theirs) > 10 * TOLERANCE
    # And so do the weights: the last block's final norm bias (random here) left at zero.
    key = next(k for k in result.state_dict if k.startswith('backbone.layer5.1.global_rep.')
               and k.endswith('bias') and result.state_dict[k].dim() == 1
               and int(k.split('.')[4]) == 3)
    result.state_dict[key] = torch.zeros_like(result.state_dict[key])
    assert relative_difference(our_logits(result, convention, rgb)[0], theirs) > 10 * TOLERANCE


def test_refuses_another_format():
    model = timm.create_model('mobilevit_xxs', pretrained=False)
    with pytest.raises(ConversionError, match='not a timm MobileViT checkpoint'):
        convert({f'model.{k}': v for k, v in model.state_dict().items()}, kind='backbone',
                source='timm')
    with pytest.raises(ConversionError, match='has no segmentor checkpoints'):
        convert(model.state_dict(), kind='segmentor', source='timm')


def test_cli_converts_a_timm_checkpoint(tmp_path):
    from ..conftest import run_tool
    src, dst = tmp_path / 'mobilevitv2_050.pth', tmp_path / 'out.pth'
    torch.save(timm.create_model('mobilevitv2_050', pretrained=False).state_dict(), src)
    proc = run_tool('tools/model_converters/cvnets2mmdense.py', src, dst, '--source', 'timm',
                    '--kind', 'classifier')
    assert proc.returncode == 0, proc.stderr
    assert 'MobileViTv2-0.5 (v2-based, conv_1x1_exp absent, from timm)' in proc.stdout
    assert len(torch.load(dst, weights_only=True)['state_dict']) == 269
    proc = run_tool('tools/model_converters/cvnets2mmdense.py', src, dst, '--source', 'cvnets')
    assert proc.returncode == 1 and 'not an ml-cvnets MobileViT checkpoint' in proc.stderr
