"""Writer variation: a training-only augmentation that moves, turns, slants, resizes and thickens digits.

Other people's digits differ from MNIST's writers in position, angle, slant, size and pen width. `fast`
sees each training image drawn a little differently every epoch: one random affine map per image (one
resampling, so it costs little on a CPU) followed by a random pen width: a gamma curve over the ink, which
brightens a stroke's grey edges (a broader pen) or fades them (a finer one) at the cost of one elementwise
power (a 3x3 dilation and erosion cost about a third more training time on 2 CPU cores). At inference the
layer passes images through unchanged.

Keras is imported here at module level: import this module only where a model is built or loaded.
"""

from __future__ import annotations

import math

import keras
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
