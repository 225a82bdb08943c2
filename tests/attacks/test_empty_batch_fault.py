"""TensorFlow's oneDNN convolution on an empty batch, in plain TensorFlow (no tfrobust).

With oneDNN on (TensorFlow's default on x86 CPUs), TensorFlow 2.21's ``Conv2D`` returns an empty
batch with the *input's* shape, not the convolution's: ``[0, 8, 8, 1]`` convolved with a
``[3, 3, 1, 4]`` filter comes back as ``[0, 8, 8, 1]``. A second convolution then fails ("input
depth must be evenly divisible by filter depth"). No loop is needed; loops only make an empty
subset likely (an attack stage whose examples are all broken). These tests pin the present
behaviour down, so that a TensorFlow upgrade that changes it is noticed; tfrobust avoids it by
never calling a model on an empty batch (:func:`tfrobust.attacks.rows.on_rows`).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port

from tfrobust.attacks.rows import on_rows

ONEDNN = _pywrap_util_port.IsMklEnabled()
FILTER = tf.ones([3, 3, 1, 4])
EMPTY = tf.zeros([0, 8, 8, 1])


def test_tensorflow_version_the_fault_was_seen_with():
    # The README's known-issues section names this version; revisit both on an upgrade.
    assert tf.__version__.startswith("2.21."), tf.__version__


def test_a_convolution_of_an_empty_batch_keeps_the_input_shape_under_onednn():
    out = tf.nn.conv2d(EMPTY, FILTER, 1, "SAME")
    if ONEDNN:
        assert out.shape == (0, 8, 8, 1)  # the fault: the input's depth, not the filter's 4
    else:
        assert out.shape == (0, 8, 8, 4)
    assert tf.nn.conv2d(tf.zeros([1, 8, 8, 1]), FILTER, 1, "SAME").shape == (1, 8, 8, 4)  # one row is right


def test_the_second_convolution_fails_inside_nested_loops_on_an_empty_gathered_subset():
    second = tf.ones([3, 3, 4, 2])

    @tf.function
    def attack_like(x, keep):
        out = tf.zeros([tf.shape(x)[0]])
        for _ in tf.range(2):  # restarts
            rows = tf.where(keep)[:, 0]
            subset = tf.gather(x, rows)
            for _ in tf.range(2):  # steps
                h = tf.nn.relu(tf.nn.conv2d(tf.nn.relu(tf.nn.conv2d(subset, FILTER, 1, "SAME")), second, 1, "SAME"))
                subset = subset + 0.0 * tf.reduce_mean(h)
            out = tf.tensor_scatter_nd_update(out, rows[:, None], tf.reduce_sum(subset, axis=[1, 2, 3]))
        return out

    x = tf.random.uniform([3, 8, 8, 1], seed=0)
    assert attack_like(x, tf.constant([True, False, True])).shape == (3,)
    if ONEDNN:
        with pytest.raises(tf.errors.InvalidArgumentError, match="evenly divisible by filter depth"):
            attack_like(x, tf.constant([False, False, False]))
    else:
        np.testing.assert_array_equal(attack_like(x, tf.constant([False, False, False])), [0.0, 0.0, 0.0])


def test_turning_onednn_off_gives_the_right_shape():
    code = textwrap.dedent("""
        import tensorflow as tf
        print(tuple(tf.nn.conv2d(tf.zeros([0, 8, 8, 1]), tf.ones([3, 3, 1, 4]), 1, "SAME").shape))
    """)
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "(0, 8, 8, 4)", out.stderr[-2000:]


def test_on_rows_never_calls_fn_on_an_empty_batch_and_keeps_the_state():
    calls = []

    def fn(rows, context):
        calls.append(int(tf.shape(rows[0])[0]))
        (x,), (y,) = rows, context
        return (tf.nn.conv2d(tf.nn.conv2d(x, FILTER, 1, "SAME"), tf.ones([3, 3, 4, 1]), 1, "SAME") * 0 + y[:, None, None, None],)

    x = tf.random.uniform([3, 8, 8, 1], seed=1)
    y = tf.constant([5.0, 6.0, 7.0])
    (out,) = on_rows(tf.constant([False, False, False]), fn, (x,), (y,))
    assert calls == [] and np.array_equal(out, x)
    (out,) = on_rows(tf.constant([False, True, False]), fn, (x,), (y,))
    assert calls == [1]
    np.testing.assert_array_equal(out[0], x[0])
    np.testing.assert_array_equal(out[2], x[2])
    assert np.all(out[1].numpy() == 6.0)


def test_on_rows_counts_passes_only_for_the_rows_it_runs_and_works_in_a_graph():
    @tf.function
    def step(x, mask):
        return on_rows(mask, lambda rows, ctx: ((rows[0] + 1.0,), tf.stack([tf.shape(rows[0], tf.int64)[0], 0])),
                       (x,), (), tf.constant([10, 0], tf.int64))

    (out,), passes = step(tf.zeros([4, 2]), tf.constant([True, False, True, False]))
    np.testing.assert_array_equal(out.numpy()[:, 0], [1, 0, 1, 0])
    np.testing.assert_array_equal(passes, [12, 0])
    (out,), passes = step(tf.zeros([4, 2]), tf.constant([False] * 4))
    np.testing.assert_array_equal(out, np.zeros([4, 2]))
    np.testing.assert_array_equal(passes, [10, 0])
