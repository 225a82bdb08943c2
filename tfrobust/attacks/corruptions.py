"""Input corruptions of the GTN robustness tests (seed 004), with the attack call signature.

They ignore the model and the labels: ``corruption(model, x, y) -> clip(corrupted x)``.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfrobust.attacks.base import Attack
from tfrobust.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class GaussianNoise(Attack):
    """``clip(x + std * z)``, z ~ N(0, I)."""

    name = "gaussian_noise"
    norm = "l2"

    std: float = 0.1

    def validate(self):
        super().validate()
        self._check_number("std")

    def perturb(self, model, x, y, seed):
        return tf.clip_by_value(x + self.std * tf.random.stateless_normal(tf.shape(x), seed), 0.0, 1.0)


def kernel_radius(std: float) -> int:
    """The half-width of :func:`gaussian_kernel_1d`'s kernel: 3 std, at least 1 pixel."""
    return max(1, int(math.ceil(3.0 * std)))


def gaussian_kernel_1d(std: float) -> np.ndarray:
    """A normalised Gaussian of standard deviation ``std``, truncated at 3 std (odd length)."""
    radius = kernel_radius(std)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / std) ** 2)
    return (k / k.sum()).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GaussianBlur(Attack):
    """Convolution of each channel with a Gaussian of standard deviation ``std`` pixels.

    The kernel is separable (a row pass, then a column pass) and the image is padded by
    reflection, so a constant image stays constant. ``std=0`` returns the input.
    """

    name = "gaussian_blur"
    norm = "l2"

    std: float = 1.0

    def validate(self):
        super().validate()
        self._check_number("std")

    def check_input(self, input_shape):
        r = kernel_radius(self.std) if self.std else 0  # computed, not built: std may be huge
        if r >= min(input_shape[:2]):
            raise ConfigError(f"attack 'gaussian_blur': std={self.std} needs a kernel of radius {r} pixels, "
                              f"too large for {input_shape[0]}x{input_shape[1]} images")

    def perturb(self, model, x, y, seed):
        if self.std == 0:
            return x
        self.check_input(tuple(x.shape[1:]))
        k = gaussian_kernel_1d(self.std)
        r = len(k) // 2
        channels = x.shape[-1]
        rows = tf.constant(np.tile(k.reshape(1, -1, 1, 1), (1, 1, channels, 1)))
        cols = tf.constant(np.tile(k.reshape(-1, 1, 1, 1), (1, 1, channels, 1)))
        padded = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="SYMMETRIC")
        out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
        out = tf.nn.depthwise_conv2d(out, cols, [1, 1, 1, 1], "VALID")
        return tf.clip_by_value(out, 0.0, 1.0)
