"""Per-example losses on logits that the attacks raise or lower; each returns shape [batch].

>>> dlr_loss(tf.constant([[3., 1., 0.]]), tf.constant([0]))          # -(3 - 1) / (3 - 0)
>>> targeted_dlr_loss(logits, y, target)                              # needs >= 4 classes
"""
from __future__ import annotations

import tensorflow as tf

_TINY = 1e-12  # keeps the DLR denominators away from 0, as the reference implementation does


def _true_logit(logits, y):
    return tf.gather(logits, tf.cast(y, tf.int32), axis=1, batch_dims=1)


def largest_other_logit(logits, y):
    """max_{i != y} z_i."""
    mask = tf.one_hot(tf.cast(y, tf.int32), tf.shape(logits)[1]) > 0
    return tf.reduce_max(tf.where(mask, tf.constant(-float("inf"), logits.dtype), logits), axis=1)


def margin(logits, y):
    """z_y - max_{i != y} z_i: positive while the example is classified as ``y``."""
    return _true_logit(logits, y) - largest_other_logit(logits, y)


def dlr_loss(logits, y):
    """The difference-of-logits ratio (Croce & Hein 2020), to be raised by an untargeted attack:
    -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), with z_pi the logits sorted in decreasing order.
    Invariant to shifting and scaling the logits; needs 3 classes or more."""
    top = tf.math.top_k(logits, k=3).values
    return -margin(logits, y) / (top[:, 0] - top[:, 2] + _TINY)


def targeted_dlr_loss(logits, y, target):
    """The targeted DLR loss, raised to move an example from ``y`` to ``target``:
    -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2). Needs 4 classes or more."""
    top = tf.math.top_k(logits, k=4).values
    gap = _true_logit(logits, y) - _true_logit(logits, target)
    return -gap / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _TINY)


def ranked_class(logits, rank):
    """Per example, the class with the ``rank``-th largest logit (rank 1 is the prediction); the
    reference's ``output.sort()[1][:, -rank]``."""
    order = tf.argsort(logits, axis=1, direction="DESCENDING", stable=True)
    return tf.cast(order[:, rank - 1], tf.int64)
