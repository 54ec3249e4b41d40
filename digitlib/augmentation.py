"""Writer variation: a training-only augmentation that moves, turns, slants, resizes and thickens digits.

Other people's digits differ from MNIST's writers in position, angle, slant, size and pen width. `fast`
sees each training image drawn a little differently every epoch: one random affine map per image (one
resampling, so it costs little on a CPU) followed by a random pen width: a gamma curve over the ink, which
brightens a stroke's grey edges (a broader pen) or fades them (a finer one) at the cost of one elementwise
power (a 3x3 dilation and erosion cost about a third more training time on 2 CPU cores). At inference the
layer passes images through unchanged.

Flagged ones: many hands start a 1 with a long flag and some stand it on a base; MNIST's writers rarely did,
and `fast` read such 1s as 7 or 9. :func:`flag_ones` draws a flag (and now and then a base) on a share of the
training 1s each epoch, in the batch builder (it needs the labels, which the layers never see).

Keras is imported here at module level: import this module only where a model is built or loaded.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

# How far a training image may move, per image and uniformly at random: light enough that the digit stays
# what it is (a 6 turned by 30 degrees can pass for a 9's cousin; 12 degrees cannot).
ROTATION_DEGREES = 12.0
SLANT = 0.15  # horizontal shear: x moves by SLANT * (its height above the centre)
SCALE = 0.12  # size multiplied by a factor in [1 - SCALE, 1 + SCALE]
SHIFT_PIXELS = 2.0
STROKE = 0.7  # pen width: ink ** exp(-amount), amount drawn in [-STROKE, STROKE] (> 0: broader, < 0: finer)


@keras.saving.register_keras_serializable(package="digitlib")
class WriterVariation(keras.layers.Layer):
    """Random rotation, slant, scale, shift and stroke width of each image, in training only."""

    def __init__(self, rotation_degrees: float = ROTATION_DEGREES, slant: float = SLANT, scale: float = SCALE,
                 shift_pixels: float = SHIFT_PIXELS, stroke: float = STROKE, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rotation_degrees, self.slant, self.scale = rotation_degrees, slant, scale
        self.shift_pixels, self.stroke, self.seed = shift_pixels, stroke, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_jit = True

    def call(self, images, training=None):
        if not training:
            return images
        batch = ops.shape(images)[0]
        height, width = images.shape[1], images.shape[2]

        def uniform(limit):
            return keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)

        angle = uniform(math.radians(self.rotation_degrees))
        shear = uniform(self.slant)
        size = 1.0 + uniform(self.scale)
        dx, dy = uniform(self.shift_pixels), uniform(self.shift_pixels)
        images = ops.image.affine_transform(images, _inverse_map(angle, shear, size, dx, dy, height, width),
                                            interpolation="bilinear", fill_mode="constant",
                                            data_format="channels_last")
        return _change_stroke(images, uniform(self.stroke))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees, "slant": self.slant,
                "scale": self.scale, "shift_pixels": self.shift_pixels, "stroke": self.stroke, "seed": self.seed}


def _inverse_map(angle, shear, size, dx, dy, height, width):
    """Per image, the 8 numbers of ops.image.affine_transform: where each output pixel reads the input.

    The forward map slants by `shear`, turns by `angle` and scales by `size` about the image centre, then
    shifts by (dx, dy); its inverse is written out so that one resampling does it all.
    """
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    cos, sin = ops.cos(angle), ops.sin(angle)
    # forward linear part A = size * R(angle) @ [[1, shear], [0, 1]]; its inverse is
    # [[1, -shear], [0, 1]] @ R(-angle) / size
    a00, a01 = (cos + shear * sin) / size, (sin - shear * cos) / size
    a10, a11 = -sin / size, cos / size
    # input = A^-1 (output - centre - shift) + centre
    ox, oy = cx + dx, cy + dy
    b0 = cx - a00 * ox - a01 * oy
    b1 = cy - a10 * ox - a11 * oy
    zeros = ops.zeros_like(angle)
    return ops.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)


def _change_stroke(images, amount):
    """Each image's ink (in [0, 1]) raised to exp(-amount): amount > 0 brightens the grey edges of its strokes,
    a broader pen; amount < 0 fades them, a finer one. Full ink and blank paper stay as they are."""
    exponent = ops.reshape(ops.exp(-amount), (-1, 1, 1, 1))
    return ops.power(ops.clip(images, 1e-6, 1.0), exponent) * ops.cast(images > 1e-6, images.dtype)


# Flags drawn on training 1s (flag_ones), each measured against the 1's own height (its top to its foot).
FLAG_LENGTH = (0.2, 0.45)
FLAG_DEGREES = (20.0, 60.0)  # below the horizontal, down to the left of the stroke's top
BASE_SHARE = 0.3  # of the flagged 1s, those that also get a base
BASE_HALF_WIDTH = (0.2, 0.35)  # on each side of the foot
_INKED = 0.5  # a row with a pixel at least this dark holds the stroke
_PEN = (1.5, 3.5)  # stroke width in pixels: the 1's ink per row, kept in this range


def flag_ones(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """Prepared images (N, 28, 28, 1) with a flag drawn on each 1 chosen with probability `share`: a straight
    stroke from the top of its stem down to the left, as wide as the 1's own stroke, its length and angle drawn
    at random; a :data:`BASE_SHARE` of those also stand on a base. Other digits, and 1s shorter than 8 rows, stay
    as they are; `images` is not changed (a copy comes back when anything is drawn). The same generator state
    gives the same pictures.

    Every chosen 1 is measured and drawn at once (arrays over the 1s); only the random numbers are drawn one 1
    after another, in the order each 1 needs them, and the arithmetic is that of one 1 at a time, type for type,
    so the pictures are the same to the bit as drawing each 1 alone."""
    ones = np.flatnonzero(labels == 1)
    chosen = ones[rng.random(len(ones)) < share]
    if len(chosen) == 0:
        return images
    flagged = images.copy()
    pictures = flagged[chosen, :, :, 0]
    inked = pictures.max(axis=2) > _INKED  # (ones, rows): the rows that hold the stroke
    tall = inked.sum(axis=1) >= 8
    chosen, pictures, inked = chosen[tall], pictures[tall], inked[tall]
    if len(chosen) == 0:
        return flagged
    top = inked.argmax(axis=1)
    foot = inked.shape[1] - 1 - inked[:, ::-1].argmax(axis=1)
    height = foot - top
    every = np.arange(len(chosen))
    top_x, foot_x = _ink_centre(pictures[every, top]), _ink_centre(pictures[every, foot])
    width = np.clip(pictures.sum(axis=(1, 2)).astype(np.float64) / np.maximum(height, 1), *_PEN)
    lines, widths, owners, flags = [], [], [], []
    for k in range(len(chosen)):  # the random numbers, in the order one 1 at a time draws them
        length = rng.uniform(*FLAG_LENGTH) * height[k]
        angle = np.radians(rng.uniform(*FLAG_DEGREES))
        lines.append((top_x[k], top[k], top_x[k] - length * np.cos(angle), top[k] + length * np.sin(angle)))
        widths.append(width[k])
        owners.append(k)
        flags.append(True)
        if rng.random() < BASE_SHARE:
            half = rng.uniform(*BASE_HALF_WIDTH) * height[k]
            lines.append((foot_x[k] - half, foot[k], foot_x[k] + half, foot[k]))
            widths.append(width[k])
            owners.append(k)
            flags.append(False)
    strokes = _strokes(np.array(lines, dtype=np.float64), np.array(widths), np.array(flags), pictures.shape[1:])
    np.maximum.at(pictures, np.array(owners), strokes.astype(np.float32))
    flagged[chosen, :, :, 0] = pictures
    return flagged


def _ink_centre(rows: np.ndarray) -> np.ndarray:
    """The ink-weighted mean column of each row (k, W), as np.average(columns, weights=row + 1e-6) gives it."""
    weights = rows + 1e-6
    columns = np.arange(rows.shape[1])
    return np.multiply(columns, weights, dtype=np.float64).sum(axis=1) / weights.sum(axis=1, dtype=np.float64)


def _strokes(lines: np.ndarray, widths: np.ndarray, flags: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Straight strokes (k, H, W), float64: each `widths` pixels wide from (x0, y0) to (x1, y1) (`lines`, (k, 4), in
    pixels), its edges anti-aliased over one pixel. A flag's first step, a pixel's column less x0, is taken in float32
    (as the stroke was first drawn, one 1 at a time), a base's in float64: the same numbers to the bit."""
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    x0, y0, x1, y1 = (lines[:, i, None, None] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    across = np.where(flags[:, None, None], (xs - x0.astype(np.float32)).astype(np.float64), xs - x0)
    along = np.clip((across * dx + (ys - y0) * dy) / (dx * dx + dy * dy + 1e-6), 0, 1)
    distance = np.hypot(xs - (x0 + along * dx), ys - (y0 + along * dy))
    return np.clip(widths[:, None, None] / 2 + 0.5 - distance, 0, 1)
