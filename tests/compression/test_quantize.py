"""Quantization maths: k-means with a fixed zero (level counts, zeros kept, exactness, error against
uniform quantization), uniform per channel (levels, error bound, zero channels), bad arguments."""
import numpy as np
import pytest

from tfrobust.compression.quantize import (METHODS, check_bits, distinct_values, kmeans_fixed_zero, quantize,
                                           snap, uniform_per_channel)
from tfrobust.errors import ConfigError


def sparse_normal(shape, zeros=0.5, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype(dtype)
    w[rng.random(shape) < zeros] = 0
    return w


# -- k-means with a fixed zero --

@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_kmeans_leaves_at_most_2_to_the_bits_values_zero_included_and_keeps_zeros(bits):
    w = sparse_normal((60, 50), seed=bits)
    codebook, q = kmeans_fixed_zero(w, bits)
    assert q.shape == w.shape and q.dtype == w.dtype and codebook.dtype == w.dtype
    assert distinct_values(q) <= 2 ** bits and codebook.size <= 2 ** bits
    assert 0 in codebook and np.all(np.diff(codebook) > 0)  # sorted, distinct
    assert np.all(q[w == 0] == 0)
    assert set(np.unique(q)) <= set(codebook)
    np.testing.assert_array_equal(snap(w, codebook), q)  # every entry goes to its nearest centre
    if bits >= 2:
        assert distinct_values(q) == 2 ** bits  # 3000 distinct values: every code is used


def test_kmeans_centres_are_the_means_of_their_clusters():
    w = sparse_normal((5000,), seed=1, dtype=np.float64)
    codebook, q = kmeans_fixed_zero(w, 3, iters=200)
    for c in codebook[codebook != 0]:
        np.testing.assert_allclose(w[q == c].mean(), c, rtol=1e-9)  # a Lloyd fixed point
    # the zero centre stays, and takes the nonzero values nearest to it
    small = (w != 0) & (q == 0)
    assert small.any()
    assert codebook[codebook < 0].max() / 2 < w[small].min() and w[small].max() <= codebook[codebook > 0].min() / 2


def test_few_distinct_values_are_kept_exactly():
    w = np.array([[0.0, 1.5, -2.0], [1.5, 0.0, 3.0]], np.float32)
    codebook, q = kmeans_fixed_zero(w, 2)  # 3 distinct nonzero values = 2**2 - 1
    np.testing.assert_array_equal(q, w)
    np.testing.assert_array_equal(codebook, [-2.0, 0.0, 1.5, 3.0])
    _, q = kmeans_fixed_zero(w, 1)  # one nonzero centre: the values nearer to it than to 0 share it
    assert distinct_values(q) == 2 and np.all(q[w == 0] == 0)
    codebook, q = kmeans_fixed_zero(np.array([1.0, 2.0]), 1)
    np.testing.assert_array_equal(q, [1.5, 1.5])
    np.testing.assert_array_equal(codebook, [0.0, 1.5])  # 0 is in the codebook even if w has none


def test_32_bits_returns_the_array_unchanged():
    w = sparse_normal((300,), seed=2)
    codebook, q = kmeans_fixed_zero(w, 32)
    np.testing.assert_array_equal(q, w)
    np.testing.assert_array_equal(codebook, np.unique(w))


def test_kmeans_error_is_below_uniform_and_falls_with_bits():
    w = np.random.default_rng(3).normal(size=20000).astype(np.float32)
    errors = []
    for bits in range(1, 9):
        _, q = kmeans_fixed_zero(w, bits)
        errors.append(np.mean((q - w) ** 2))
        if bits >= 2:
            _, u = uniform_per_channel(w[:, None], bits)  # one channel: per-tensor uniform
            assert errors[-1] <= np.mean((u[:, 0] - w) ** 2)
    assert all(a > b for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 1e-4


def test_kmeans_is_deterministic_and_keeps_the_dtype():
    w = sparse_normal((400, 1000), seed=4)  # the size of a big layer: fast (one sort, O(k log n) per step)
    c1, q1 = kmeans_fixed_zero(w, 8)
    c2, q2 = kmeans_fixed_zero(w.copy(), 8)
    np.testing.assert_array_equal(c1, c2)
    np.testing.assert_array_equal(q1, q2)
    _, q64 = kmeans_fixed_zero(w.astype(np.float64), 4)
    assert q64.dtype == np.float64
    assert kmeans_fixed_zero(np.array([0, 1, 2, 3]), 1)[1].dtype == np.float64  # integers become floats


# -- uniform per channel --

@pytest.mark.parametrize("bits", [2, 3, 8])
def test_uniform_has_at_most_2_to_the_bits_levels_per_channel_and_half_a_step_of_error(bits):
    w = sparse_normal((3, 3, 4, 6), zeros=0.3, seed=bits)
    w[..., 2] *= 100.0  # channels of very different ranges
    scales, q = uniform_per_channel(w, bits)
    assert scales.shape == (6,) and q.shape == w.shape and q.dtype == w.dtype
    levels = 2 ** (bits - 1) - 1
    np.testing.assert_allclose(scales, np.abs(w).max(axis=(0, 1, 2)) / levels, rtol=1e-6)
    for c in range(6):
        assert distinct_values(q[..., c]) <= min(2 ** bits - 1, 2 * levels + 1)
        assert np.abs(q[..., c] - w[..., c]).max() <= scales[c] / 2 * (1 + 1e-5)
        np.testing.assert_allclose(q[..., c] / scales[c], np.round(q[..., c] / scales[c]), atol=1e-4)
    assert np.all(q[w == 0] == 0)
    np.testing.assert_allclose(np.abs(q).max(axis=(0, 1, 2)), np.abs(w).max(axis=(0, 1, 2)), rtol=1e-6)


def test_uniform_all_zero_channel_and_other_axes():
    w = sparse_normal((5, 3), seed=5)
    w[:, 1] = 0
    scales, q = uniform_per_channel(w, 4)
    assert scales[1] == 0 and np.all(q[:, 1] == 0) and np.all(np.isfinite(q))
    scales, q = uniform_per_channel(w, 4, axis=0)
    assert scales.shape == (5,)
    np.testing.assert_allclose(scales, np.abs(w).max(axis=1) / 7, rtol=1e-6)
    assert distinct_values(np.zeros(4)) == 1 and distinct_values([1.0, -1.0, 1.0]) == 2


# -- dispatch and bad arguments --

def test_quantize_dispatches_to_both_methods():
    w = sparse_normal((20, 8), seed=6)
    assert METHODS == ("kmeans", "uniform")
    np.testing.assert_array_equal(quantize(w, 3), kmeans_fixed_zero(w, 3)[1])
    np.testing.assert_array_equal(quantize(w, 3, method="uniform"), uniform_per_channel(w, 3)[1])


@pytest.mark.parametrize("bits", [0, 33, 2.5, -1, True, "8"])
def test_bad_bits_are_rejected(bits):
    message = f"bits={bits!r} is not allowed; it must be an integer in \\[1, 32\\]"
    with pytest.raises(ConfigError, match=message):
        check_bits(bits)
    with pytest.raises(ConfigError, match=message):
        kmeans_fixed_zero(np.ones(3), bits)
    with pytest.raises(ConfigError, match=f"bits={bits!r} is not allowed"):
        quantize(np.ones(3), bits, method="uniform")


def test_bad_methods_and_uniform_at_one_bit_are_rejected():
    with pytest.raises(ConfigError, match="method='lloyd' is not allowed; known: kmeans, uniform"):
        quantize(np.ones(3), 8, method="lloyd")
    message = "bits=1 is not allowed for method='uniform'; it must be an integer in \\[2, 32\\]"
    with pytest.raises(ConfigError, match=message):
        uniform_per_channel(np.ones((3, 2)), 1)
    with pytest.raises(ConfigError, match="NaN or infinite"):
        kmeans_fixed_zero(np.array([1.0, np.nan]), 2)
    with pytest.raises(ConfigError, match="iters=0"):
        kmeans_fixed_zero(np.ones(3), 2, iters=0)
