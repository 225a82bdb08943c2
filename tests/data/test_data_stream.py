"""Splits.train_stream: the training order is a function of its seed alone."""
import numpy as np
import tensorflow as tf

from tfrobust import data


def _labels(splits, seed, batches):
    return [b[1].numpy() for b in splits.train_stream(seed).take(batches)]


def test_train_stream_order_depends_on_the_seed_alone():
    splits = data.load("synthetic", batch_size=7, image_shape=(4, 4, 1), train_size=20, test_size=5, seed=0)
    first = _labels(splits, 3, 9)
    for _ in range(2):  # other streams and a global seed change nothing
        _labels(splits, 3, 4)
    tf.random.set_seed(1234)
    again = _labels(splits, 3, 9)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert [len(b) for b in first] == [7, 7, 6] * 3  # epochs of 20 keep their smaller last batch
    other = _labels(splits, 4, 9)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_each_epoch_of_the_stream_is_a_permutation():
    splits = data.load("synthetic", batch_size=8, image_shape=(3, 3, 1), train_size=24, test_size=5, seed=0)
    images = [b[0].numpy().reshape(len(b[0]), -1) for b in splits.train_stream(0).take(6)]
    first, second = np.concatenate(images[:3]), np.concatenate(images[3:])
    assert len(np.unique(first, axis=0)) == 24
    assert sorted(map(bytes, first)) == sorted(map(bytes, second)) and not np.array_equal(first, second)
