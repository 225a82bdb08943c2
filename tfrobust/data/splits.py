"""Arrays -> batched tf.data pipelines: train (seeded shuffle), valid (carved from train), test.

Images stay uint8 in memory and become float32 in [0, 1] inside the pipeline, one batch at a
time. The train shuffle permutes indices, not images, so its buffer holds 8 bytes an example.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from tfrobust.data.arrays import check_int, load_arrays
from tfrobust.errors import ConfigError

_SEED_MAX = 2 ** 63 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class Splits:
    """Batched ``(x float32 NHWC in [0, 1], y int64)`` pipelines and what they hold.

    ``train`` is reshuffled every time it is iterated (a new epoch), is not repeated, and keeps
    its last, smaller batch. ``valid`` is None when ``valid_size`` is 0. A shuffled dataset's
    epoch orders continue across the iterators made from it; :meth:`train_stream` gives a fresh
    pipeline whose order depends on its seed alone (what a resumable run needs).
    """

    train: tf.data.Dataset
    valid: Optional[tf.data.Dataset]
    test: tf.data.Dataset
    input_shape: tuple
    num_classes: int
    train_size: int
    valid_size: int
    test_size: int
    source: str
    name: str = ""
    train_arrays: tuple = dataclasses.field(default=(), repr=False)
    batch_size: int = 0

    def train_stream(self, seed: int) -> tf.data.Dataset:
        """The training set as an endless stream of batches, reshuffled each epoch by a stateless
        permutation of ``(seed, epoch)``: the same seed gives the same batches in any process,
        whatever streams were made before and whether or not ``tf.random.set_seed`` was called.
        Each epoch ends with its smaller last batch, as ``train`` does."""
        x, y = self.train_arrays
        n = len(y)
        x_t, y_t = tf.constant(x), tf.constant(y)

        def epoch(e):
            positions = tf.data.Dataset.range(n).batch(self.batch_size)
            return positions.map(lambda i: tf.random.experimental.index_shuffle(
                i, seed=tf.stack([tf.constant(seed, tf.int64), e]), max_index=n - 1))

        indices = tf.data.Dataset.range(2 ** 62).flat_map(epoch)
        batches = indices.map(lambda i: _to_unit_float(tf.gather(x_t, i), tf.gather(y_t, i)),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return batches.prefetch(tf.data.AUTOTUNE)


def _to_unit_float(x, y):
    if x.dtype == tf.uint8:
        return tf.cast(x, tf.float32) * (1.0 / 255.0), y
    return tf.cast(x, tf.float32), y


def pipeline(x: np.ndarray, y: np.ndarray, batch_size: int,
             shuffle_seed: Optional[int] = None) -> tf.data.Dataset:
    """Batches of ``(float32 images in [0, 1], int64 labels)``; shuffled per epoch when seeded."""
    x_t, y_t = tf.constant(x), tf.constant(y)
    indices = tf.data.Dataset.range(len(y))
    if shuffle_seed is not None:
        indices = indices.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    batches = indices.batch(batch_size).map(
        lambda i: _to_unit_float(tf.gather(x_t, i), tf.gather(y_t, i)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)


def carve(n: int, valid_size: int, seed: int):
    """``(train_indices, valid_indices)``, each sorted, from a permutation seeded by ``seed``."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[valid_size:]), np.sort(perm[:valid_size])


def load(name: str, *, batch_size: int = 128, eval_batch_size: Optional[int] = None,
         valid_size: int = 0, seed: int = 0, data_dir: Optional[str | os.PathLike] = None,
         max_test: Optional[int] = None, max_train: Optional[int] = None, **options) -> Splits:
    """Loads dataset ``name`` and builds its train / valid / test pipelines.

    ``valid_size`` examples (0 <= valid_size < training-set size) are carved from the training
    set by a permutation seeded with ``seed``; the rest form ``train``, shuffled with ``seed``
    (the same seed gives the same sequence of epoch orders; like every TensorFlow op seed it is
    combined with the global seed when ``tf.random.set_seed`` was called). ``eval_batch_size``
    (default ``batch_size``) batches ``valid`` and ``test``, which are not shuffled.
    ``max_test`` keeps only the first ``max_test`` test examples; ``max_train`` keeps only the first
    ``max_train`` training examples left after the validation split is carved (so ``valid`` does not
    depend on it; ``--train_examples``). ``options`` go to the dataset (see
    :func:`tfrobust.data.options`).
    """
    batch_size = check_int("batch_size", batch_size, 1)
    eval_batch_size = batch_size if eval_batch_size is None else check_int(
        "eval_batch_size", eval_batch_size, 1)
    valid_size = check_int("valid_size", valid_size, 0)
    seed = check_int("seed", seed, 0, _SEED_MAX)
    if max_test is not None:
        max_test = check_int("max_test", max_test, 1)
    if max_train is not None:
        max_train = check_int("max_train", max_train, 1)

    arrays = load_arrays(name, data_dir, **options)
    n_train = arrays.train_size
    if valid_size >= n_train:
        raise ConfigError(f"valid_size={valid_size} is not allowed for dataset {name!r} with "
                          f"{n_train} training examples; allowed: 0 <= valid_size < {n_train}")
    x_train, y_train = arrays.x_train, arrays.y_train
    valid = None
    if valid_size:
        train_idx, valid_idx = carve(n_train, valid_size, seed)
        valid = pipeline(x_train[valid_idx], y_train[valid_idx], eval_batch_size)
        x_train, y_train = x_train[train_idx], y_train[train_idx]
    if max_train is not None:
        if max_train > len(y_train):
            raise ConfigError(f"--train_examples={max_train} (max_train) is not allowed for dataset {name!r}: "
                              f"only {len(y_train)} training examples remain after valid_size={valid_size}; "
                              f"allowed: 0 (all) to {len(y_train)}")
        x_train, y_train = x_train[:max_train], y_train[:max_train]
    x_test, y_test = arrays.x_test[:max_test], arrays.y_test[:max_test]
    return Splits(
        train=pipeline(x_train, y_train, batch_size, shuffle_seed=seed),
        valid=valid,
        test=pipeline(x_test, y_test, eval_batch_size),
        input_shape=arrays.input_shape,
        num_classes=arrays.num_classes,
        train_size=len(y_train),
        valid_size=valid_size,
        test_size=len(y_test),
        source=arrays.source,
        name=arrays.name,
        train_arrays=(x_train, y_train),
        batch_size=batch_size,
    )
