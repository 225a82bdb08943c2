"""Label noise (``--label_noise``), as Stutz et al. train their ``ln`` models.

Their ``noisy_classification_loss`` replaces each label of a batch, with probability ``rate``, by a
class drawn uniformly from all ``num_classes`` (the true one included, so a fraction
``rate * (num_classes - 1) / num_classes`` of labels actually changes), drawn anew for every batch,
and uses the noisy labels in the training cross-entropy only: the adversarial examples are computed
against the true labels. Here the draw is stateless, a function of the step seed, so a resumed run
draws the same noise; the training step applies it before the objective sees the batch
(:func:`noisy_labels`), and :func:`attacking_true_labels` keeps the objective's attack on the true
labels.
"""
from __future__ import annotations

import copy

import tensorflow as tf

_STREAM = 0x1AB31  # folded into the step seed: the noise draws are independent of the attack's


def noisy_labels(y: tf.Tensor, rate: float, num_classes: int, seed: tf.Tensor) -> tf.Tensor:
    """``y`` with each entry replaced, with probability ``rate``, by a class uniform in
    ``[0, num_classes)``; a function of ``seed`` (a [2] int64 tensor) alone."""
    seed = tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), _STREAM)
    flip_seed, class_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    flip = tf.random.stateless_uniform(tf.shape(y), flip_seed) < rate
    random = tf.random.stateless_uniform(tf.shape(y), class_seed, minval=0, maxval=num_classes, dtype=tf.int64)
    return tf.where(flip, tf.cast(random, y.dtype), y)


def attacking_true_labels(objective, noisy: tf.Tensor, true: tf.Tensor):
    """A shallow copy of ``objective`` whose ``adversarial`` (the training attack's output) attacks
    ``true`` wherever it is asked to attack the batch's ``noisy`` labels (the same tensor); the
    losses see the noisy labels. Made while tracing each replica's step."""
    wrapped = copy.copy(objective)
    adversarial = type(objective).adversarial

    def attack_true(model, x, y, seed):
        return adversarial(wrapped, model, x, true if y is noisy else y, seed)

    object.__setattr__(wrapped, "adversarial", attack_true)
    return wrapped
