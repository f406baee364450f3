"""Training-time augmentation, inside the model so that it runs only in training.

Real images reach `predict` shifted, tilted, at another scale and resampled
from another size or colour mode; a model that has only seen one clean
rendering of each example reads them badly. Each training image is therefore
moved by a random affine map (shift, small rotation, zoom; milder on images
smaller than 16 pixels a side), and a share of
them is resampled through a smaller size and back (the blur an image file gets
when it is saved at another size and read back). At inference (`training`
false: evaluation, export, serving) the layer passes images through untouched.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

MAX_SHIFT = 0.1  # of the image side
MAX_ROTATION_DEGREES = 12.0
MAX_ZOOM = 0.1  # scale in [1 - MAX_ZOOM, 1 + MAX_ZOOM]
RESAMPLE_SHARE = 0.3  # of the images in a batch
RESAMPLE_SCALE = (0.5, 0.9)  # the intermediate size, as a share of the side
# Small images get milder moves: on 8x8 a 12-degree turn resamples every pixel
# of a digit drawn in a few; full strength from this side up, in proportion below.
FULL_STRENGTH_SIDE = 16


def strength_for(image_shape) -> float:
    """The share of the maximal shift, rotation and zoom for images of this shape."""
    return min(1.0, min(int(image_shape[0]), int(image_shape[1])) / FULL_STRENGTH_SIDE)


class Augment(keras.layers.Layer):
    """Random shift, rotation and zoom, and a resampling blur; identity unless training.

    Built by TiedCNN from its `augment` setting, never from a config of its own."""

    def __init__(self, strength: float = 1.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.strength = float(strength)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        moved = affine(inputs, self.seed_generator, self.strength)
        return resample_blur(moved, self.seed_generator)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "strength": self.strength, "seed": self.seed}


def _uniform(shape, low, high, seed):
    return keras.random.uniform(shape, minval=low, maxval=high, seed=seed)


def affine(images, seed, strength: float = 1.0):
    """Each image shifted, rotated and zoomed about its centre (bilinear, zero
    fill), by up to `strength` times the maximal amounts."""
    shape = tf.shape(images)
    n = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    angle = _uniform((n,), -1.0, 1.0, seed) * (strength * MAX_ROTATION_DEGREES * math.pi / 180.0)
    zoom, shift = strength * MAX_ZOOM, strength * MAX_SHIFT
    inverse_scale = 1.0 / _uniform((n,), 1.0 - zoom, 1.0 + zoom, seed)
    shift_x = _uniform((n,), -shift, shift, seed) * width
    shift_y = _uniform((n,), -shift, shift, seed) * height
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Maps each output pixel (x, y) to the input point it samples.
    a0 = inverse_scale * tf.cos(angle)
    a1 = -inverse_scale * tf.sin(angle)
    b0 = inverse_scale * tf.sin(angle)
    b1 = inverse_scale * tf.cos(angle)
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = tf.zeros_like(a0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return keras.ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0.0
    )


def resample_blur(images, seed):
    """A random share of the batch resampled down to a random smaller size and back."""
    shape = tf.shape(images)
    size = shape[1:3]
    scale = _uniform((), RESAMPLE_SCALE[0], RESAMPLE_SCALE[1], seed)
    small = tf.maximum(2, tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32))
    blurred = tf.image.resize(tf.image.resize(images, small, antialias=True), size)
    chosen = _uniform((shape[0], 1, 1, 1), 0.0, 1.0, seed) < RESAMPLE_SHARE
    return tf.where(chosen, tf.cast(blurred, images.dtype), images)
