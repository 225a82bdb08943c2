"""The GTN's inner loop, unrolled and differentiated (seed 004).

A learner's state is ``(params, velocity, means)``: its weights, SGD's momentum buffers and its
batch norm's running means, all tensors. One inner step on a batch ``(x, y)``::

    g = grad of the mean cross-entropy of learner(params, x) (batch statistics) w.r.t. params
    velocity <- momentum * velocity + g
    params   <- params - lr * velocity

with ``lr = exp(log_lr[t])`` and ``momentum = exp(log_momentum[t])`` (learned, and positive by
construction). The outer loss is the cross-entropy of the trained learner (running means) on a
real batch: after the last step (``final``), or averaged over the states after every step
(``every_step``).

:func:`meta_gradient` returns the outer loss and its gradient with respect to the inner batches
``xs``, ``log_lr`` and ``log_momentum``, by one of two methods that give the same numbers:

* ``checkpointing=False``: one tape over the whole loop; memory grows with every step's
  intermediate tensors (both passes and the inner gradients).
* ``checkpointing=True``: the forward pass keeps only each step's state; the backward pass walks
  the steps in reverse, recomputing each step under its own tape and taking its vector-Jacobian
  product (what ``tf.recompute_grad`` does, written out). Memory: the states of all steps plus one
  step's intermediates; time: one more forward pass of each step.

Both run the same compiled step, so they agree to float rounding (tests: to 1e-6 relative).
"""
from __future__ import annotations

from typing import Tuple

import tensorflow as tf

from tfrobust.gtn.learners import Learner, update_means

OUTER_LOSSES = ("final", "every_step")


def cross_entropy(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits))


def start_state(params, means):
    """The state of a fresh learner: its weights, zero momentum, its running means."""
    return params, tf.nest.map_structure(tf.zeros_like, params), means


def inner_step(arch: Learner, state, x, y, lr, momentum, first):
    """``(new state, training loss)`` after one SGD-with-momentum step on ``(x, y)``."""
    params, velocity, means = state
    with tf.GradientTape() as tape:
        tape.watch(params)
        logits, batch_means = arch.apply(params, means, x, training=True)
        loss = cross_entropy(logits, y)
    grads = tape.gradient(loss, params)
    velocity = tf.nest.map_structure(lambda v, g: momentum * v + g, velocity, grads)
    params = tf.nest.map_structure(lambda p, v: p - lr * v, params, velocity)
    return (params, velocity, update_means(means, batch_means, first)), loss


def outer_loss(arch: Learner, state, real_x, real_y) -> tf.Tensor:
    params, _, means = state
    logits, _ = arch.apply(params, means, real_x, training=False)
    return cross_entropy(logits, real_y)


def _step_at(arch, state, xs, ys, log_lr, log_momentum, t):
    return inner_step(arch, state, xs[t], ys[t], tf.exp(log_lr[t]), tf.exp(log_momentum[t]), tf.equal(t, 0))


def train(arch: Learner, state, xs, ys, log_lr, log_momentum, steps=None):
    """The state after the first ``steps`` inner steps (all of ``xs`` by default)."""
    steps = tf.shape(xs)[0] if steps is None else steps
    for t in tf.range(steps):
        state, _ = _step_at(arch, state, xs, ys, log_lr, log_momentum, t)
    return state


def unrolled_loss(arch, state, xs, ys, log_lr, log_momentum, real_x, real_y, every_step: bool):
    """The outer loss of the whole unrolled loop, step by step (any tape around it differentiates it)."""
    total = 0.0
    steps = int(xs.shape[0])
    for t in range(steps):
        state = _step(arch, state, xs[t], ys[t], log_lr[t], log_momentum[t], tf.constant(t == 0))
        if every_step:
            total += _outer_loss(arch, state, real_x, real_y)
    return total / steps if every_step else _outer_loss(arch, state, real_x, real_y)


@tf.function(reduce_retracing=True)
def _step(arch, state, x, y, log_lr, log_momentum, first):
    return inner_step(arch, state, x, y, tf.exp(log_lr), tf.exp(log_momentum), first)[0]


@tf.function(reduce_retracing=True)
def _outer_loss(arch, state, real_x, real_y):
    return outer_loss(arch, state, real_x, real_y)


@tf.function(reduce_retracing=True)
def _loss_and_grad(arch, state, real_x, real_y):
    flat = tf.nest.flatten(state)
    with tf.GradientTape() as tape:
        tape.watch(flat)
        loss = outer_loss(arch, tf.nest.pack_sequence_as(state, flat), real_x, real_y)
    return loss, tape.gradient(loss, flat, unconnected_gradients="zero")


@tf.function(reduce_retracing=True)
def _step_vjp(arch, state, x, y, log_lr, log_momentum, first, grad_after):
    """The gradient of ``<grad_after, step(state, x, lr, momentum)>`` w.r.t. the state, x and the logs."""
    flat = tf.nest.flatten(state)
    with tf.GradientTape() as tape:
        tape.watch([flat, x, log_lr, log_momentum])
        after, _ = inner_step(arch, tf.nest.pack_sequence_as(state, flat), x, y, tf.exp(log_lr),
                              tf.exp(log_momentum), first)
    return tape.gradient(tf.nest.flatten(after), [flat, x, log_lr, log_momentum], output_gradients=grad_after,
                         unconnected_gradients="zero")


def meta_gradient(arch: Learner, state, xs, ys, log_lr, log_momentum, real_x, real_y,
                  every_step: bool = False, checkpointing: bool = True
                  ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(outer loss, d/d xs, d/d log_lr, d/d log_momentum)`` (see the module doc). Each inner step
    is one compiled call; the loop over the steps runs in Python (a ``tf.while_loop`` gradient of
    this second-order step trips a TensorFlow bug, "AlreadyExistsError ... AddN/tmp_var")."""
    xs, log_lr, log_momentum = (tf.convert_to_tensor(v) for v in (xs, log_lr, log_momentum))
    if not checkpointing:
        with tf.GradientTape() as tape:
            tape.watch([xs, log_lr, log_momentum])
            loss = unrolled_loss(arch, state, xs, ys, log_lr, log_momentum, real_x, real_y, every_step)
        grads = tape.gradient(loss, [xs, log_lr, log_momentum], unconnected_gradients="zero")
        return (loss, *[tf.convert_to_tensor(g) for g in grads])
    steps = int(xs.shape[0])
    states = [state]
    for t in range(steps):  # forward: keep every state, nothing else
        states.append(_step(arch, states[-1], xs[t], ys[t], log_lr[t], log_momentum[t], tf.constant(t == 0)))
    scale = 1.0 / steps if every_step else 1.0
    loss, grad_state = _loss_and_grad(arch, states[-1], real_x, real_y)
    grad_state = [g * scale for g in grad_state] if every_step else grad_state
    losses = [loss]
    grad_xs, grad_lr, grad_mom = [None] * steps, [None] * steps, [None] * steps
    for t in range(steps - 1, -1, -1):  # backward: recompute step t, take its VJP
        if every_step and t < steps - 1:  # the loss after step t (the last one is already in)
            step_loss, extra = _loss_and_grad(arch, states[t + 1], real_x, real_y)
            losses.append(step_loss)
            grad_state = [g + scale * e for g, e in zip(grad_state, extra)]
        grad_state, grad_xs[t], grad_lr[t], grad_mom[t] = _step_vjp(
            arch, states[t], xs[t], ys[t], log_lr[t], log_momentum[t], tf.constant(t == 0), grad_state)
        states[t + 1] = None  # no longer needed
    loss = tf.add_n(losses) * scale if every_step else loss
    return loss, tf.stack(grad_xs), tf.stack(grad_lr), tf.stack(grad_mom)
