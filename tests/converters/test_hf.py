"""Hugging Face transformers' MobileViT / MobileViTV2 state dicts converted (source 'hf') give
transformers' logits on the same image, each library with its own preprocessing (the image
processor's 1/255 rescale, resize, crop and RGB -> BGR flip); every published variant's
architecture converts and loads."""
import pytest
import torch

from mvit3_dense.converters import ConversionError, convert, input_convention
from mvit3_dense.models import MobileViTv3

from ..conftest import relative_difference
from .third_party import TOLERANCE, our_logits, randomise, sample_image

transformers = pytest.importorskip(
    'transformers', reason='transformers is a test requirement (requirements/tests.txt)')

# The architectures of Apple's checkpoints on the Hugging Face hub (their config.json values,
# written out here: nothing is downloaded), and the arch each converts to.
V1 = {
    'apple/mobilevit-xx-small': (dict(hidden_sizes=[64, 80, 96], expand_ratio=2.0,
                                      neck_hidden_sizes=[16, 16, 24, 48, 64, 80, 320]),
                                 'mobilevitv1-xxs'),
    'apple/mobilevit-x-small': (dict(hidden_sizes=[96, 120, 144],
                                     neck_hidden_sizes=[16, 32, 48, 64, 80, 96, 384]),
                                'mobilevitv1-xs'),
    'apple/mobilevit-small': (dict(), 'mobilevitv1-s'),
}
V2 = {f'apple/mobilevitv2-{w}-imagenet1k-256': (dict(width_multiplier=float(w)),
                                                 f'mobilevitv2-{w}')
      for w in ('0.5', '0.75', '1.0', '1.25', '1.5', '1.75', '2.0')}


def build(name):
    kwargs, _ = {**V1, **V2}[name]
    if name in V1:
        config = transformers.MobileViTConfig(num_labels=1000, **kwargs)
        return transformers.MobileViTForImageClassification(config)
    config = transformers.MobileViTV2Config(num_labels=1000, **kwargs)
    return transformers.MobileViTV2ForImageClassification(config)


@pytest.mark.parametrize('name', list(V1) + list(V2))
def test_variant_converts_and_loads_strictly(name):
    model = build(name)
    result = convert(model.state_dict(), kind='classifier', source='hf')
    assert (result.arch, result.num_classes, result.source_format) == ({**V1, **V2}[name][1],
                                                                        1000, 'hf')
    # v1: three of HF's query / key / value tensors become one qkv tensor, per weight and bias.
    attention = sum(1 for k in model.state_dict() if k.endswith('attention.attention.query.weight'))
    assert len(result.state_dict) == len(model.state_dict()) - 4 * attention
    backbone = MobileViTv3(arch=result.arch, init_cfg=None)
    backbone.load_state_dict({k[len('backbone.'):]: v for k, v in result.state_dict.items()
                              if k.startswith('backbone.')}, strict=True)
    # The bare model (MobileViTModel / MobileViTV2Model, no prefix) converts to the same tensors.
    bare = convert(getattr(model, model.base_model_prefix).state_dict(), kind='backbone',
                   source='hf')
    assert bare.arch == result.arch and set(bare.state_dict) == set(backbone.state_dict())


@pytest.mark.parametrize('name', ['apple/mobilevit-xx-small', 'apple/mobilevitv2-0.5-imagenet1k-256'])
def test_logits_equal_transformers_with_its_preprocessing(name):
    torch.manual_seed(0)
    model = randomise(build(name))
    rgb = sample_image()
    # Apple's published processor settings: shorter side 288 (bilinear), 256 crop, 1/255, BGR.
    processor = transformers.MobileViTImageProcessor(
        size={'shortest_edge': 288}, crop_size={'height': 256, 'width': 256}, resample=2,
        do_flip_channel_order=True)
    with torch.no_grad():
        pixels = processor(images=rgb, return_tensors='pt')['pixel_values']
        theirs = model(pixel_values=pixels).logits
    result = convert(model.state_dict(), kind='classifier', source='hf')
    convention = input_convention('hf', result.network)
    ours, inputs = our_logits(result, convention, rgb)
    assert torch.equal(inputs, pixels)
    difference = relative_difference(ours, theirs)
    print(name, f'max |logit difference| / max |logit| = {difference:.2e}')
    assert difference <= TOLERANCE
    # Without the processor's channel flip the logits differ.
    swapped = dict(convention, data_preprocessor=dict(convention['data_preprocessor'],
                                                      to_rgb=True))
    assert relative_difference(our_logits(result, swapped, rgb)[0], theirs) > 10 * TOLERANCE


def test_refuses_another_format():
    with pytest.raises(ConversionError, match='not a Hugging Face MobileViT'):
        convert({'vit.embeddings.cls_token': torch.zeros(1, 1, 8)}, kind='classifier',
                source='hf')
    with pytest.raises(ConversionError, match='has no detector checkpoints'):
        convert(build('apple/mobilevit-xx-small').state_dict(), kind='detector', source='hf')
