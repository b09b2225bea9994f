import torch.nn.functional as F


def make_divisible(value, divisor, min_value=None):
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90 % of it.

    The rounding rule of the authors' code (and of MobileNetV2); kept here rather than imported
    so that the backbone does not pull in a whole downstream codebase for four lines.
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def patch_aligned_size(height, width, patch_size):
    """The smallest size at or above (height, width) that whole patches tile.

    Integer ceiling division on non-negative numbers only, so that traced sizes stay symbolic in
    exported graphs and mean the same there: ONNX's integer ``Div`` truncates, so ``-(-h // p)``
    would round a negative quotient the other way.
    """
    return ((height + patch_size - 1) // patch_size * patch_size,
            (width + patch_size - 1) // patch_size * patch_size)


def resize(x, size, align_corners):
    return F.interpolate(x, size=size, mode='bilinear', align_corners=align_corners)
