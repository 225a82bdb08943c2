"""synthetic: deterministic, any shape, learnable; option checks."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import data
from tfrobust.errors import ConfigError


def test_same_options_bit_identical():
    a = data.load_arrays("synthetic", image_shape=(6, 5, 3), num_classes=4, train_size=50,
                         test_size=20, data_seed=7)
    b = data.load_arrays("synthetic", image_shape=(6, 5, 3), num_classes=4, train_size=50,
                         test_size=20, data_seed=7)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    c = data.load_arrays("synthetic", image_shape=(6, 5, 3), num_classes=4, train_size=50,
                         test_size=20, data_seed=8)
    assert not np.array_equal(a.x_train, c.x_train)


def test_shapes_balance_and_range():
    a = data.load_arrays("synthetic", image_shape=(6, 5, 3), num_classes=4, train_size=50, test_size=21)
    assert a.x_train.shape == (50, 6, 5, 3) and a.x_train.dtype == np.float32
    assert a.x_test.shape == (21, 6, 5, 3) and a.y_test.dtype == np.int64
    assert a.num_classes == 4 and a.input_shape == (6, 5, 3)
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert np.bincount(a.y_train, minlength=4).tolist() == [13, 13, 12, 12]
    assert not np.array_equal(a.y_train[:8], np.arange(8) % 4)  # labels in shuffled order
    assert "data_seed=0" in a.source


def test_test_set_does_not_depend_on_train_size():
    small = data.load_arrays("synthetic", train_size=10)
    large = data.load_arrays("synthetic", train_size=500)
    np.testing.assert_array_equal(small.x_test, large.x_test)


def test_noise_zero_gives_templates():
    a = data.load_arrays("synthetic", image_shape=(3, 3, 1), num_classes=3, train_size=30, noise_std=0.0)
    for k in range(3):
        same = a.x_train[a.y_train == k]
        assert np.all(same == same[0])


def test_learnable_by_a_linear_model():
    splits = data.load("synthetic", batch_size=50, seed=0)
    dim = int(np.prod(splits.input_shape))
    w = tf.Variable(tf.zeros([dim, splits.num_classes]))
    b = tf.Variable(tf.zeros([splits.num_classes]))
    opt_lr = 0.05

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.reshape(x, [-1, dim]) @ w + b
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        gw, gb = tape.gradient(loss, [w, b])
        w.assign_sub(opt_lr * gw)
        b.assign_sub(opt_lr * gb)

    for _ in range(10):  # 10 epochs of 20 steps: 200 steps
        for x, y in splits.train:
            step(x, y)
    correct = sum(int(tf.reduce_sum(tf.cast(tf.argmax(tf.reshape(x, [-1, dim]) @ w + b, 1) == y, tf.int32)))
                  for x, y in splits.test)
    assert correct / splits.test_size > 0.6  # chance is 0.1


@pytest.mark.parametrize("option,value,message", [
    ("image_shape", (28, 28), r"image_shape=\(28, 28\) is not allowed; allowed: \(height, width, channels\)"),
    ("image_shape", (28, 0, 1), r"image_shape="),
    ("num_classes", 1, r"num_classes=1 is not allowed; allowed: an integer >= 2"),
    ("train_size", 0, r"train_size=0"),
    ("test_size", 2.5, r"test_size=2.5"),
    ("data_seed", -3, r"data_seed=-3"),
    ("noise_std", -0.1, r"noise_std=-0.1 is not allowed; allowed: a finite number >= 0"),
])
def test_bad_option_values(option, value, message):
    with pytest.raises(ConfigError, match=message):
        data.load_arrays("synthetic", **{option: value})
