"""Training and evaluating a learner outside the meta-gradient: on a GTN's batches, or normally on
real data (Adam, the GTN report's "vanilla" learners), and as a model the attacks can take.

    state = on_batches(arch, arch.init(seed, shape, classes), xs, ys, log_lr, log_momentum, steps=10)
    state = normally(arch, arch.init(seed, shape, classes), x_train, y_train, seed=0, lr=0.005, epochs=1)
    accuracy(arch, state, x_test, y_test)
    model = LearnerModel(arch, state, classes)  # model(x, training=False) -> logits, for tfrobust.attacks
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfrobust.gtn import inner
from tfrobust.gtn.learners import Learner, update_means

EVAL_BATCH = 1000


@tf.function(reduce_retracing=True)
def _on_batches(arch, state, xs, ys, log_lr, log_momentum, steps):
    return inner.train(arch, state, xs, ys, log_lr, log_momentum, steps)


def on_batches(arch: Learner, start, xs, ys, log_lr, log_momentum, steps=None):
    """The state of a learner started at ``start = (params, means)`` after ``steps`` inner steps on
    a GTN's batches ``xs``, ``ys`` with its learned rates (all the steps by default)."""
    steps = int(xs.shape[0]) if steps is None else steps
    return _on_batches(arch, inner.start_state(*start), xs, ys, tf.convert_to_tensor(log_lr),
                       tf.convert_to_tensor(log_momentum), tf.constant(steps))


def arrays_of(dataset) -> tuple:
    """``(x, y)`` NumPy arrays of a batched ``(x, y)`` pipeline (a split's ``valid`` or ``test``)."""
    batches = list(dataset)
    return np.concatenate([b[0].numpy() for b in batches]), np.concatenate([b[1].numpy() for b in batches])


def as_float(x) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    return tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)


def _adam_step(arch, state, slots, x, y, lr, t):
    params, _, means = state
    m, v = slots
    with tf.GradientTape() as tape:
        tape.watch(params)
        logits, batch_means = arch.apply(params, means, x, training=True)
        loss = inner.cross_entropy(logits, y)
    grads = tape.gradient(loss, params)
    b1, b2, eps = 0.9, 0.999, 1e-7
    m = tf.nest.map_structure(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
    v = tf.nest.map_structure(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
    step = tf.cast(t + 1, tf.float32)
    rate = lr * tf.sqrt(1 - b2 ** step) / (1 - b1 ** step)
    params = tf.nest.map_structure(lambda p, a, b: p - rate * a / (tf.sqrt(b) + eps), params, m, v)
    return (params, state[1], update_means(means, batch_means, tf.equal(t, 0))), (m, v)


@tf.function(reduce_retracing=True)
def _normally(arch, state, x_all, y_all, order, batch, lr):
    zeros = tf.nest.map_structure(tf.zeros_like, state[0])
    slots = (zeros, zeros)
    n = tf.shape(order)[0]
    steps = (n + batch - 1) // batch
    for t in tf.range(steps):
        idx = order[t * batch: tf.minimum((t + 1) * batch, n)]
        x = as_float(tf.gather(x_all, idx))
        y = tf.gather(y_all, idx)
        state, slots = _adam_step(arch, state, slots, x, y, lr, t)
    return state


def normally(arch: Learner, start, x_train, y_train, seed: int, lr: float = 0.005, epochs: int = 1,
             batch: int = 128):
    """A learner trained the usual way: Adam at ``lr`` for ``epochs`` passes over the real training
    set in batches of ``batch``, shuffled by ``seed`` (the GTN report's "vanilla" learners)."""
    n = len(y_train)
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n) for _ in range(epochs)])
    return _normally(arch, inner.start_state(*start), tf.constant(x_train), tf.constant(y_train, tf.int64),
                     tf.constant(order), tf.constant(batch), tf.constant(lr, tf.float32))


@tf.function(reduce_retracing=True)
def _correct(arch, params, means, x, y):
    logits, _ = arch.apply(params, means, as_float(x), training=False)
    return tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(y, tf.int64)), tf.int64))


def accuracy(arch: Learner, state, x, y) -> float:
    """Accuracy (inference mode: running means) on arrays ``x`` (uint8 or float in [0, 1]), ``y``."""
    params, _, means = state
    correct = 0
    for i in range(0, len(y), EVAL_BATCH):
        correct += int(_correct(arch, params, means, x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH]))
    return correct / len(y)


class LearnerModel(tf.Module):
    """A trained learner as a model: ``model(x, training=False) -> logits`` (inference mode), what
    :mod:`tfrobust.attacks` and :func:`tfrobust.evaluation.evaluate` call."""

    def __init__(self, arch: Learner, state, num_classes: int):
        super().__init__(name="learner")
        self.arch = arch
        params, _, means = state
        self.params = tf.nest.map_structure(tf.constant, params)
        self.means = [tf.constant(m) for m in means]
        self.output_shape = (None, num_classes)

    def __call__(self, x, training=False):
        logits, _ = self.arch.apply(self.params, self.means, x, training=False)
        return logits
