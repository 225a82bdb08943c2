"""The GTN's layers as pure functions of their weights (tensors, not variables), so that a
gradient can flow through a learner's weight updates (seed 004).

Weight normalisation (Salimans & Kingma, 2016): ``w = g * v / ||v||``, the norm taken per output
unit over every other axis of ``v``. A layer's weights are a dict ``{"v", "g", "b"}``.
:func:`init_dense` and :func:`init_conv` draw ``v`` He-normal from a stateless seed and start
``g`` at ``||v||`` (so ``w = v`` at the start) and ``b`` at 0.
"""
from __future__ import annotations

from typing import Dict, Tuple

import tensorflow as tf

Weights = Dict[str, tf.Tensor]
LEAK = 0.1  # LeakyReLU slope of the generator and the learners
BN_EPSILON = 1e-5


def leaky_relu(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.leaky_relu(x, alpha=LEAK)


def _he(shape, fan_in: int, seed) -> tf.Tensor:
    return tf.random.stateless_normal(shape, seed, stddev=(2.0 / fan_in) ** 0.5)


def _start(v: tf.Tensor, units: int) -> Weights:
    axes = list(range(v.shape.rank - 1))
    return {"v": v, "g": tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes)), "b": tf.zeros([units])}


def init_dense(fan_in: int, units: int, seed) -> Weights:
    return _start(_he([fan_in, units], fan_in, seed), units)


def init_conv(in_channels: int, out_channels: int, seed, kernel: int = 3) -> Weights:
    return _start(_he([kernel, kernel, in_channels, out_channels], kernel * kernel * in_channels, seed), out_channels)


def normalized(w: Weights) -> tf.Tensor:
    """``g * v / ||v||`` (norm per output unit, the last axis)."""
    v = w["v"]
    axes = list(range(v.shape.rank - 1))
    return v * (w["g"] / tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes) + 1e-12))


def dense(w: Weights, x: tf.Tensor, bias: bool = True) -> tf.Tensor:
    y = tf.matmul(x, normalized(w))
    return y + w["b"] if bias else y


def conv(w: Weights, x: tf.Tensor, stride: int = 1, bias: bool = True) -> tf.Tensor:
    y = tf.nn.conv2d(x, normalized(w), strides=stride, padding="SAME")
    return y + w["b"] if bias else y


def batch_mean(x: tf.Tensor) -> tf.Tensor:
    """The mean of each channel (last axis) over the batch and the spatial axes."""
    return tf.reduce_mean(x, axis=list(range(x.shape.rank - 1)))


def batch_moments(x: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
    return tf.nn.moments(x, axes=list(range(x.shape.rank - 1)))


def batch_norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    """Batch normalisation on the batch's own statistics (the generator always makes whole batches)."""
    mean, var = batch_moments(x)
    return gamma * (x - mean) * tf.math.rsqrt(var + BN_EPSILON) + beta


def upsample(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour upsampling by 2 in both spatial axes."""
    return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
