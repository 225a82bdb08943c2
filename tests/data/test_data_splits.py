"""data.load: batched pipelines, validation carving, seeded shuffling, option checks."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import data
from tfrobust.errors import ConfigError


def _collect(dataset, image_ids):
    """All batches of a pipeline: (ids of the images in order, labels, batch sizes, x min, x max)."""
    ids, labels, sizes, lo, hi = [], [], [], 1.0, 0.0
    for x, y in dataset:
        assert x.dtype == tf.float32 and y.dtype == tf.int64
        x = x.numpy()
        ids.append(image_ids(x))
        labels.append(y.numpy())
        sizes.append(len(x))
        lo, hi = min(lo, x.min()), max(hi, x.max())
    return np.concatenate(ids), np.concatenate(labels), sizes, lo, hi


def test_shapes_range_and_carving(fashion_dir, image_ids):
    splits = data.load("fashion_mnist", data_dir=fashion_dir, batch_size=16, eval_batch_size=7,
                       valid_size=12, seed=3)
    assert splits.input_shape == (28, 28, 1) and splits.num_classes == 10
    assert (splits.train_size, splits.valid_size, splits.test_size) == (48, 12, 20)
    assert splits.source == fashion_dir and splits.name == "fashion_mnist"

    train_ids, train_y, train_sizes, lo, hi = _collect(splits.train, image_ids)
    assert train_sizes == [16, 16, 16]
    assert 0.0 <= lo and hi <= 1.0 and hi > 0.9  # uint8 scaled by 1/255
    np.testing.assert_array_equal(train_y, train_ids % 10)  # images stay with their labels

    valid_ids, valid_y, valid_sizes, _, _ = _collect(splits.valid, image_ids)
    assert valid_sizes == [7, 5]
    np.testing.assert_array_equal(valid_y, valid_ids % 10)
    assert list(valid_ids) == sorted(valid_ids)  # eval splits are not shuffled
    assert not set(train_ids) & set(valid_ids)  # disjoint ...
    assert sorted(set(train_ids) | set(valid_ids)) == list(range(60))  # ... and together all of train

    test_ids, _, test_sizes, _, _ = _collect(splits.test, image_ids)
    assert test_sizes == [7, 7, 6]
    np.testing.assert_array_equal(test_ids, 10_000 + np.arange(20))

    # The same seed carves the same validation set; another seed another one.
    again = data.load("fashion_mnist", data_dir=fashion_dir, valid_size=12, seed=3)
    np.testing.assert_array_equal(_collect(again.valid, image_ids)[0], valid_ids)
    other = data.load("fashion_mnist", data_dir=fashion_dir, valid_size=12, seed=4)
    assert set(_collect(other.valid, image_ids)[0]) != set(valid_ids)


def test_seeded_shuffle(fashion_dir, image_ids):
    def epochs(seed, n=3):
        train = data.load("fashion_mnist", data_dir=fashion_dir, batch_size=8, seed=seed).train
        return [_collect(train, image_ids)[0] for _ in range(n)]

    first = epochs(seed=5)
    for order in first:
        assert sorted(order) == list(range(60))  # every example once an epoch, no repeat
    assert not np.array_equal(first[0], first[1])  # reshuffled each epoch
    assert not np.array_equal(first[0], np.arange(60))
    for a, b in zip(first, epochs(seed=5)):  # same seed -> same sequence of orders
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], epochs(seed=6, n=1)[0])


def test_defaults_and_max_test(fashion_dir):
    splits = data.load("fashion_mnist", data_dir=fashion_dir, batch_size=32, max_test=9)
    assert splits.valid is None and splits.valid_size == 0 and splits.train_size == 60
    assert splits.test_size == 9
    assert [len(y) for _, y in splits.test] == [9]  # eval_batch_size defaults to batch_size
    assert [len(y) for _, y in splits.train] == [32, 28]  # last batch kept


def test_float_datasets_pass_through(image_ids):
    arrays = data.load_arrays("synthetic", image_shape=(4, 4, 2), train_size=10, test_size=5)
    splits = data.load("synthetic", image_shape=(4, 4, 2), train_size=10, test_size=5, batch_size=5)
    x = np.concatenate([x.numpy() for x, _ in splits.test])
    np.testing.assert_array_equal(x, arrays.x_test)  # float32 data is not divided by 255


@pytest.mark.parametrize("kwargs,message", [
    ({"valid_size": 60}, r"valid_size=60 is not allowed .* 0 <= valid_size < 60"),
    ({"valid_size": -1}, r"valid_size=-1 .*allowed: an integer >= 0"),
    ({"valid_size": 0.5}, r"valid_size=0.5"),
    ({"batch_size": 0}, r"batch_size=0 .*allowed: an integer >= 1"),
    ({"batch_size": True}, r"batch_size=True"),
    ({"eval_batch_size": -4}, r"eval_batch_size=-4"),
    ({"seed": -1}, r"seed=-1"),
    ({"max_test": 0}, r"max_test=0"),
])
def test_bad_options(fashion_dir, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        data.load("fashion_mnist", data_dir=fashion_dir, **kwargs)
