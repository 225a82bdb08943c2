"""The GTN's generator: noise and a one-hot label -> an image in [0, 1].

    noise (128) ++ one-hot label -> dense 1024 -> dense 128*h*w -> reshape (h, w, 128)
      -> upsample x2 -> 3x3 conv 64 -> upsample x2 -> 3x3 conv C -> tanh, mapped to [0, 1]

with h, w a quarter of the image's height and width. Every layer is weight-normalised; each but the
last is followed by batch norm and LeakyReLU(0.1). The widths (1024 and 128) are settings.

Batch norm uses the statistics of each inner-loop batch: :meth:`Generator.__call__` takes the
noise of several inner steps at once, shape ``[steps, batch, noise]``, runs them as one large batch
(one pass instead of one per step) and normalises each step's batch on its own, as if each were
generated alone.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.gtn import functional as F


class Generator(tf.Module):
    """The generator's variables and its forward pass (see the module doc)."""

    def __init__(self, image_shape: Tuple[int, int, int], num_classes: int, seed: Sequence[int],
                 noise_dim: int = 128, hidden: int = 1024, channels: int = 128):
        super().__init__(name="generator")
        height, width, out_channels = image_shape
        if height % 4 or width % 4:
            raise ConfigError(f"the GTN generator makes images whose height and width are multiples of 4, "
                              f"not {height}x{width}")
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.noise_dim = noise_dim
        self.base = (height // 4, width // 4, channels)
        seeds = tf.unstack(tf.random.experimental.stateless_split(tf.constant(seed, tf.int64), 4))
        half = max(1, channels // 2)
        shapes = [
            ("dense_1", F.init_dense(noise_dim + num_classes, hidden, seeds[0])),
            ("dense_2", F.init_dense(hidden, height // 4 * width // 4 * channels, seeds[1])),
            ("conv_1", F.init_conv(channels, half, seeds[2])),
            ("conv_2", F.init_conv(half, out_channels, seeds[3])),
        ]
        self.layers = {}
        for name, weights in shapes:
            self.layers[name] = {k: tf.Variable(v, name=f"{name}_{k}") for k, v in weights.items()}
            if name != "conv_2":
                units = weights["b"].shape[0]
                self.layers[name]["gamma"] = tf.Variable(tf.ones([units]), name=f"{name}_gamma")
                self.layers[name]["beta"] = tf.Variable(tf.zeros([units]), name=f"{name}_beta")

    def _norm(self, x: tf.Tensor, layer: dict, groups: int) -> tf.Tensor:
        """Batch norm of each group of rows on its own statistics, then LeakyReLU."""
        grouped = tf.reshape(x, tf.concat([[groups, -1], tf.shape(x)[1:]], 0))
        axes = list(range(1, x.shape.rank + 1 - 1))
        mean, var = tf.nn.moments(grouped, axes=axes, keepdims=True)
        normed = (grouped - mean) * tf.math.rsqrt(var + F.BN_EPSILON)
        normed = tf.reshape(normed, tf.shape(x))
        return F.leaky_relu(layer["gamma"] * normed + layer["beta"])

    def __call__(self, noise: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """Images ``[steps, batch, H, W, C]`` in [0, 1] from noise ``[steps, batch, noise_dim]`` and
        integer labels ``[steps, batch]``."""
        steps, batch = tf.shape(noise)[0], tf.shape(noise)[1]
        z = tf.reshape(noise, [-1, self.noise_dim])
        onehot = tf.one_hot(tf.reshape(labels, [-1]), self.num_classes)
        h = tf.concat([z, onehot], axis=1)
        h = self._norm(F.dense(self.layers["dense_1"], h), self.layers["dense_1"], steps)
        h = self._norm(F.dense(self.layers["dense_2"], h), self.layers["dense_2"], steps)
        h = tf.reshape(h, [-1, *self.base])
        h = self._norm(F.conv(self.layers["conv_1"], F.upsample(h)), self.layers["conv_1"], steps)
        h = F.conv(self.layers["conv_2"], F.upsample(h))
        images = 0.5 * (tf.tanh(h) + 1.0)
        return tf.reshape(images, tf.concat([[steps, batch], self.image_shape], 0))
