"""Deterministic synthetic scenes for the embedded segmentation and detection demos.

A scene is a cluttered background (colour gradient, thin lines, small specks) with a few objects of
``CLASSES`` on top. Each class has its own silhouette and a hue band, but colour, size, rotation and
surface texture (plain, stripes, checks, noise) vary per object, objects occlude one another and some
are cut by the image border. The same ``numpy.random.Generator`` state always yields the same scene, so
both demo writers (VOC masks, COCO boxes) can render identical data from a seed.

The difficulty is set so that a small model trained from scratch on a 2-core CPU learns the task within
minutes: objects span several cells of a stride-8 feature map, classes differ in shape and roughly in
hue, the clutter is low-contrast and thinner than any object.
"""
import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('disc', 'square', 'triangle', 'cross')

# Centre of each class's hue band (fraction of the colour wheel); objects draw their hue within
# +-HUE_SPREAD of it, so hue is a strong but not a perfect cue.
_CLASS_HUES = (0.0, 0.33, 0.6, 0.14)
HUE_SPREAD = 0.06

# Object size (diameter of the circumscribed circle) as a fraction of the shorter image side.
SIZE_RANGE = (0.25, 0.55)
MAX_OBJECTS = 4
# An object that a later one would leave with less than this fraction of its area visible is not
# placed, so every object stays recognisable and keeps a meaningful box.
MIN_VISIBLE = 0.5
# Objects whose visible part is smaller than this many pixels (e.g. cut by the border) are not placed.
MIN_PIXELS = 64


def _shape_polygon(label, cx, cy, radius, angle):
    """Vertices of the class silhouette, or None for the disc (drawn as an ellipse)."""
    name = CLASSES[label]
    if name == 'disc':
        return None
    if name == 'square':
        corners = [(angle + math.pi / 4 + k * math.pi / 2, radius) for k in range(4)]
    elif name == 'triangle':
        corners = [(angle + k * 2 * math.pi / 3, radius) for k in range(3)]
    else:  # cross: 12 vertices of a plus sign whose arms are a third of its width
        arm = radius / math.sqrt(1 + 1 / 9)
        half = arm / 3
        pts = [(half, arm), (-half, arm), (-half, half), (-arm, half), (-arm, -half), (-half, -half),
               (-half, -arm), (half, -arm), (half, -half), (arm, -half), (arm, half), (half, half)]
        cos, sin = math.cos(angle), math.sin(angle)
        return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in pts]
    return [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in corners]


def _shape_mask(label, cx, cy, radius, angle, height, width):
    canvas = Image.new('L', (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    polygon = _shape_polygon(label, cx, cy, radius, angle)
    if polygon is None:
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=1)
    else:
        draw.polygon(polygon, fill=1)
    return np.asarray(canvas, dtype=bool)


def _hsv(h, s, v):
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _background(rng, height, width):
    """Two-colour gradient with low-contrast lines and specks."""
    c0 = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.35, 0.8))
    c1 = _hsv(rng.random(), rng.uniform(0.0, 0.3), rng.uniform(0.35, 0.8))
    theta = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (xx * math.cos(theta) + yy * math.sin(theta))
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    image = c0 * (1 - t[..., None]) + c1 * t[..., None]
    canvas = Image.fromarray(image.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    side = min(height, width)
    for _ in range(rng.integers(3, 8)):
        x0, x1 = rng.uniform(0, width, 2)
        y0, y1 = rng.uniform(0, height, 2)
        colour = _hsv(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.3, 0.9))
        draw.line((x0, y0, x1, y1), fill=tuple(int(c) for c in colour),
                  width=int(rng.integers(1, max(2, side // 64) + 1)))
    for _ in range(rng.integers(5, 15)):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        r = rng.uniform(1, max(2.0, side * 0.02))
        colour = _hsv(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.3, 0.9))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in colour))
    image = np.asarray(canvas, dtype=np.float32)
    return image + rng.normal(0, 4, image.shape).astype(np.float32)


def _texture(rng, label, height, width):
    """Per-pixel RGB of an object's surface: a colour from its class's hue band times a pattern."""
    colour = _hsv(_CLASS_HUES[label] + rng.uniform(-HUE_SPREAD, HUE_SPREAD), rng.uniform(0.55, 1.0),
                  rng.uniform(0.55, 1.0))
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == 0:  # plain
        pattern = np.ones((height, width), np.float32)
    elif kind == 1:  # stripes at a random angle
        theta = rng.uniform(0, math.pi)
        period = rng.uniform(4, 10)
        phase = (xx * math.cos(theta) + yy * math.sin(theta)) / period
        pattern = np.where((phase % 1.0) < 0.5, 1.0, 0.7).astype(np.float32)
    elif kind == 2:  # checks
        cell = rng.integers(3, 8)
        pattern = np.where(((xx // cell + yy // cell) % 2) == 0, 1.0, 0.75).astype(np.float32)
    else:  # speckle noise
        pattern = rng.uniform(0.75, 1.0, (height, width)).astype(np.float32)
    return colour * pattern[..., None]


def render_scene(rng, size):
    """Render one scene.

    Args:
        rng (numpy.random.Generator): source of all randomness; the same state gives the same scene.
        size (int | tuple[int, int]): image side, or (height, width).

    Returns:
        tuple: ``image`` (H x W x 3 uint8 RGB) and a list of instances in drawing order (later ones in
        front), each a dict with ``label`` (index into ``CLASSES``), ``mask`` (H x W bool, the visible
        pixels) and ``bbox`` (x1, y1, x2, y2 in pixels, x2/y2 exclusive, of the visible pixels).
    """
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    image = _background(rng, height, width)
    side = min(height, width)
    masks, labels, areas = [], [], []
    for _ in range(rng.integers(1, MAX_OBJECTS + 1)):
        for _attempt in range(10):
            label = int(rng.integers(len(CLASSES)))
            radius = rng.uniform(*SIZE_RANGE) * side / 2
            # Centres may fall slightly outside the frame so that some objects touch the border.
            cx = rng.uniform(-0.2 * radius, width + 0.2 * radius)
            cy = rng.uniform(-0.2 * radius, height + 0.2 * radius)
            mask = _shape_mask(label, cx, cy, radius, rng.uniform(0, 2 * math.pi), height, width)
            area = int(mask.sum())
            if area < MIN_PIXELS:
                continue
            if all((m & ~mask).sum() >= MIN_VISIBLE * a for m, a in zip(masks, areas)):
                break
        else:
            continue
        masks = [m & ~mask for m in masks] + [mask]
        labels.append(label)
        areas.append(area)
        image[mask] = _texture(rng, label, height, width)[mask]
    image = np.clip(image, 0, 255).astype(np.uint8)
    instances = []
    for label, mask in zip(labels, masks):
        ys, xs = np.nonzero(mask)
        bbox = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        instances.append(dict(label=label, mask=mask, bbox=bbox))
    return image, instances


def render_object(rng, size, label):
    """Render one object of class ``label`` on the cluttered background (a classification sample).

    The object lies wholly or almost wholly inside the frame and is larger than in the scenes, so the
    label is always visible; colour, texture, size and rotation vary as in :func:`render_scene`.

    Args:
        rng (numpy.random.Generator): source of all randomness; the same state gives the same image.
        size (int | tuple[int, int]): image side, or (height, width).
        label (int): index into ``CLASSES``.

    Returns:
        numpy.ndarray: H x W x 3 uint8 RGB image.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label must index CLASSES (0..{len(CLASSES) - 1}), got {label}')
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    image = _background(rng, height, width)
    radius = rng.uniform(0.35, 0.75) * min(height, width) / 2
    cx = rng.uniform(radius * 0.8, width - radius * 0.8)
    cy = rng.uniform(radius * 0.8, height - radius * 0.8)
    mask = _shape_mask(label, cx, cy, radius, rng.uniform(0, 2 * math.pi), height, width)
    image[mask] = _texture(rng, label, height, width)[mask]
    return np.clip(image, 0, 255).astype(np.uint8)
