"""Random draws keyed by per-example seeds, vectorised over the batch.

TensorFlow's stateless ops take one seed per call; drawing each example alone (``tf.map_fn``) costs
a loop iteration per example. Here each example's [2] int64 seed is hashed to a 32-bit key, and
value ``j`` of its draw is a hash of the key and ``j`` (Wellons' ``lowbias32`` integer hash, in
uint32 arithmetic that wraps), so one batch of elementwise ops draws every example and an
example's draw depends only on its seed and the ``salt``, never on its batch-mates. Good enough
for random starts; not a cryptographic or statistically certified generator. Keys have 32 bits:
among 50,000 examples two share their draws with a probability of about 0.25 (harmless for random
starts). Draws with different ``salt`` are independent streams: :func:`normal` with salt ``s``
takes the uniform salts ``2s + 1`` and ``2s + 2``.
"""
from __future__ import annotations

import math

import tensorflow as tf

_GOLDEN = 0x9E3779B9


def _hash(x: tf.Tensor) -> tf.Tensor:
    """lowbias32 on uint32 tensors."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))
    x = x * tf.constant(0x7FEB352D, tf.uint32)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(15, tf.uint32)))
    x = x * tf.constant(0x846CA68B, tf.uint32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(16, tf.uint32)))


def _words(v: tf.Tensor):
    """The low and high 32 bits of an int64 tensor, as uint32."""
    v = tf.cast(v, tf.int64)
    low = tf.cast(tf.bitwise.bitwise_and(v, tf.constant(0xFFFFFFFF, tf.int64)), tf.uint32)
    high = tf.cast(tf.bitwise.bitwise_and(tf.bitwise.right_shift(v, tf.constant(32, tf.int64)),
                                          tf.constant(0xFFFFFFFF, tf.int64)), tf.uint32)
    return low, high


def keys(seeds: tf.Tensor) -> tf.Tensor:
    """A uint32 key per row of [batch, 2] int64 ``seeds``."""
    k = tf.zeros(tf.shape(seeds)[:1], tf.uint32)
    for word in (*_words(seeds[:, 0]), *_words(seeds[:, 1])):
        k = _hash(tf.bitwise.bitwise_xor(k, word) + tf.constant(_GOLDEN, tf.uint32))
    return k


def example_seeds(seed: int, first: int, size: int) -> tf.Tensor:
    """The [size, 2] seeds ``(seed, i)`` of examples ``i = first, ..., first + size - 1``."""
    return tf.stack([tf.fill([size], tf.constant(seed, tf.int64)), tf.range(first, first + size, dtype=tf.int64)], 1)


def fold_rows(seeds: tf.Tensor, data) -> tf.Tensor:
    """[batch, 2] int64 seeds: each row of ``seeds`` folded with the integer ``data``."""
    k = keys(seeds)
    low, high = _words(tf.cast(data, tf.int64))
    mixed = _hash(tf.bitwise.bitwise_xor(k, _hash(low + tf.constant(_GOLDEN, tf.uint32))) + high)
    return tf.stack([tf.cast(k, tf.int64), tf.cast(mixed, tf.int64)], axis=1)


def uniform(seeds: tf.Tensor, shape, minval=0.0, maxval=1.0, salt: int = 0, dtype=tf.float32) -> tf.Tensor:
    """[batch, *shape] draws uniform in [minval, maxval), row ``i`` from ``seeds[i]`` alone."""
    size = math.prod(int(s) for s in shape)
    k = keys(seeds)[:, None]
    j = _hash(tf.cast(tf.range(size), tf.uint32) + tf.constant((salt * _GOLDEN + 1) & 0xFFFFFFFF, tf.uint32))[None, :]
    bits = _hash(_hash(tf.bitwise.bitwise_xor(k, j)) + k)
    u = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), dtype) * (2.0 ** -24)
    u = tf.reshape(u, tf.concat([tf.shape(seeds)[:1], tf.constant(list(shape), tf.int32)], 0))
    return minval + (maxval - minval) * u


def normal(seeds: tf.Tensor, shape, salt: int = 0, dtype=tf.float32) -> tf.Tensor:
    """[batch, *shape] standard normal draws (Box-Muller on two uniform streams)."""
    u1 = uniform(seeds, shape, salt=2 * salt + 1, dtype=dtype)
    u2 = uniform(seeds, shape, salt=2 * salt + 2, dtype=dtype)
    return tf.sqrt(-2.0 * tf.math.log1p(-u1)) * tf.cos(2.0 * math.pi * u2)
