"""Working on some rows of a batch: gather them, update them, scatter them back.

Attacks work on the examples still to break: a stage of AutoAttack, a target class of APGD-T, a
restart, the search of CW and DeepFool. :func:`on_rows` is the one way they do it. It never calls
the model on an empty batch: when no row is selected, the rows keep their values and nothing runs.

Why never an empty batch: with oneDNN (TensorFlow's default on x86 CPUs), ``Conv2D`` and
``DepthwiseConv2dNative`` return an empty input *unchanged*, with the input's shape instead of the
convolution's (TensorFlow 2.21: ``tf.nn.conv2d(tf.zeros([0, 8, 8, 1]), tf.ones([3, 3, 1, 4]), 1,
"SAME")`` has shape ``(0, 8, 8, 1)``, not ``(0, 8, 8, 4)``). The next convolution then fails ("input
depth must be evenly divisible by filter depth"), and a model with one convolution gets a wrong
shape. ``tests/attacks/test_empty_batch_fault.py`` pins that behaviour down in plain TensorFlow.
"""
from __future__ import annotations

from typing import Callable, Optional, Sequence, Tuple

import tensorflow as tf


def subset(mask: tf.Tensor, *tensors):
    """``(indices, rows...)``: the indices where ``mask`` holds, and those rows of each tensor."""
    indices = tf.where(mask)[:, 0]
    return (indices, *(tf.gather(t, indices) for t in tensors))


def scatter_rows(tensor: tf.Tensor, indices: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """``tensor`` with rows ``indices`` replaced by ``rows`` (the inverse of :func:`subset`)."""
    return tf.tensor_scatter_nd_update(tensor, indices[:, None], rows)


def batch_mask(condition: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """Reshapes a per-example boolean so that it broadcasts against ``like``."""
    return tf.reshape(condition, [-1] + [1] * (like.shape.rank - 1))


def on_rows(mask: tf.Tensor, fn: Callable, state: Sequence[tf.Tensor], context: Sequence[tf.Tensor] = (),
            passes: Optional[tf.Tensor] = None):
    """``state`` with its rows where ``mask`` holds replaced by what ``fn`` makes of them.

    ``fn(rows, context_rows)`` takes the selected rows of each tensor of ``state`` and of
    ``context`` (tuples, in order) and returns new rows for ``state`` (a tuple of the same
    structure, dtypes and trailing shapes). ``fn`` runs only when at least one row is selected;
    otherwise ``state`` comes back unchanged. With ``passes`` (an int64 [2] count of forward and
    backward passes), ``fn`` returns ``(new rows, passes it made)`` and the result is
    ``(state, passes + those)``: an unselected batch makes none.

    Works eagerly and inside ``tf.function`` and loops (a ``tf.cond``). A loop whose own condition
    already ensures a row (Square's queries, PGD's and CW's steps) pays one such cond per
    iteration, next to a model pass: kept, so that every subset goes the same way.
    """
    state, context = tuple(state), tuple(context)
    indices, *rows = subset(mask, *state, *context)
    own, ctx = tuple(rows[:len(state)]), tuple(rows[len(state):])
    any_row = tf.size(indices) > 0
    if passes is None:
        new = tf.cond(any_row, lambda: tuple(fn(own, ctx)), lambda: own)
        return _scatter_all(state, indices, new)
    new, more = tf.cond(any_row, lambda: _counted(fn(own, ctx)),
                        lambda: (own, tf.zeros([2], tf.int64)))
    return _scatter_all(state, indices, new), passes + more


def _counted(result) -> Tuple[tuple, tf.Tensor]:
    new, more = result
    return tuple(new), tf.cast(more, tf.int64)


def _scatter_all(state, indices, new) -> tuple:
    if len(new) != len(state):
        raise ValueError(f"on_rows: fn returned {len(new)} tensors for a state of {len(state)}")
    return tuple(scatter_rows(s, indices, n) for s, n in zip(state, new))
