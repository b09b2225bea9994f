"""Shared by the timm and Hugging Face converter tests: random weights that make a wrong mapping
show, a test image, and our classifier run on that image through mmpretrain's own pipeline."""
import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mvit3_dense  # noqa: F401
from mvit3_dense.models import MobileViTv3


TOLERANCE = 1e-4  # relative to the largest logit


def randomise(model, seed=0):
    """Every weight, norm statistic and affine parameter and every bias drawn at random: left at
    their initial values (0 / 1) a swapped or dropped tensor would not change the output, and
    transformers' initial weights (std 0.02) leave logits that barely depend on the image.
    Convolution and linear weights get std 1 / sqrt(fan-in), so activations keep their scale."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                weight = module.weight
                weight.copy_(torch.randn(weight.shape, generator=gen)
                             / weight[0].numel() ** 0.5)
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape,
                                                            generator=gen))
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=gen)
                                         * 0.7 + 0.7)
            if isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.LayerNorm,
                                   nn.GroupNorm)):
                module.weight.copy_(torch.rand(module.weight.shape, generator=gen) + 0.5)
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif getattr(module, 'bias', None) is not None:
                module.bias.copy_(0.05 * torch.randn(module.bias.shape, generator=gen))
    return model.eval()


def sample_image(height=320, width=480, seed=0):
    """A smooth RGB uint8 image (H x W x 3): random coarse colours upsampled, plus noise; red
    bright, blue dark, so that reading the channels in the wrong order shows in the logits.

    320 x 480 resizes exactly (no rounding of the longer side) to 284 x 426 and 288 x 432, and
    centre-crops to 256 with even margins, so every library crops the same pixels."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 16, width // 16, generator=gen)
    image = nn.functional.interpolate(coarse, size=(height, width), mode='bilinear',
                                      align_corners=False)[0]
    image = image * torch.tensor([1.0, 0.6, 0.2])[:, None, None] + \
        0.05 * torch.randn(image.shape, generator=gen)
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def our_logits(conversion, convention, rgb):
    """Logits of ``conversion`` (a classifier) in an mmpretrain ``ImageClassifier`` fed by the
    ``convention``'s test pipeline and data preprocessor, from the image as
    ``LoadImageFromFile`` reads it (BGR)."""
    from mmpretrain.registry import MODELS
    init_default_scope('mmpretrain')
    arch = conversion.arch
    channels = MobileViTv3(arch=arch, init_cfg=None).all_channels
    model = MODELS.build(dict(
        type='ImageClassifier',
        data_preprocessor=convention['data_preprocessor'],
        backbone=dict(type='MobileViTv3', arch=arch, out_indices=(len(channels) - 1,)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=conversion.num_classes,
                  in_channels=channels[-1])))
    model.load_state_dict(conversion.state_dict, strict=True)
    model.eval()
    pipeline = Compose(convention['test_pipeline'][1:])  # the image is already read
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    packed = pipeline(dict(img=bgr, img_shape=bgr.shape[:2], ori_shape=bgr.shape[:2]))
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[packed['inputs']],
                                            data_samples=[packed['data_samples']]))
        return model(data['inputs'], mode='tensor'), data['inputs']
