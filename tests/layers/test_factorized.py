"""Factorized layers (K = B (A + I) + C) and the NumPy factorization behind them (ATMC, ALR)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import layer_models
from layer_models import random_masks
from tfrobust.compression.factorize import (as_matrix, factorized_params, factors, from_matrix, full_rank,
                                            global_ranks)
from tfrobust.errors import ConfigError
from tfrobust.layers import (count_weights, export_plain, get_masks, l1_penalty, model_size_bits,
                             prunable_variables, set_masks)
from tfrobust.layers.factorized import FactorizedConv2D, FactorizedDense, to_factorized
from tfrobust.saving import load_model, save_model

SHAPES = [(7, 5), (5, 7), (3, 3, 2, 4), (3, 3, 4, 50)]


def product(b, a, c):
    return b @ (a + np.eye(*a.shape)) + c


def factorized_model(seed=0, ranks=(0, 0)):
    inputs = keras.Input((8, 8, 2))
    x = FactorizedConv2D(4, 3, rank=ranks[0], name="conv", activation="relu", padding="same", strides=2,
                         kernel_initializer=keras.initializers.GlorotUniform(seed),
                         bias_initializer=keras.initializers.RandomNormal(seed=seed))(inputs)
    x = keras.layers.Flatten()(x)
    x = FactorizedDense(5, rank=ranks[1], name="fc",
                        kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(x)
    return keras.Model(inputs, x)


def inputs(seed=0, shape=(8, 8, 2)):
    return tf.constant(np.random.default_rng(seed).random((6,) + shape, dtype=np.float32))


# -- the NumPy factorization --

@pytest.mark.parametrize("shape", SHAPES)
def test_full_rank_factors_reproduce_any_kernel(shape):
    kernel = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    n_in, n_out = as_matrix(kernel).shape
    assert (n_in, n_out) == (int(np.prod(shape[:-1])), shape[-1]) and full_rank(shape) == min(n_in, n_out)
    np.testing.assert_array_equal(from_matrix(as_matrix(kernel), shape), kernel)
    b, a, c = factors(kernel, full_rank(shape))
    assert b.shape == (n_in, min(n_in, n_out)) and a.shape == (min(n_in, n_out), n_out)
    assert b.dtype == a.dtype == c.dtype == np.float32 and not c.any()
    np.testing.assert_allclose(from_matrix(product(b, a, c), shape), kernel, atol=1e-5)
    # balanced as in the reference: B and A + I have the same root mean square
    a_plus_i = a + np.eye(*a.shape)
    np.testing.assert_allclose(np.sqrt(np.mean(b ** 2)), np.sqrt(np.mean(a_plus_i ** 2)), rtol=1e-5)


@pytest.mark.parametrize("shape,rank", [((12, 9), 3), ((3, 3, 2, 6), 1), ((3, 3, 2, 6), 5)])
def test_truncated_rank_is_the_best_rank_r_approximation(shape, rank):
    kernel = np.random.default_rng(2).normal(size=shape)
    b, a, c = factors(kernel, rank)
    assert b.shape[1] == a.shape[0] == rank
    u, s, vt = np.linalg.svd(as_matrix(kernel), full_matrices=False)
    best = (u[:, :rank] * s[:rank]) @ vt[:rank]
    np.testing.assert_allclose(product(b, a, c), best, atol=1e-10)
    assert np.linalg.matrix_rank(product(b, a, c)) == rank
    error = np.linalg.norm(product(b, a, c) - as_matrix(kernel))  # Eckart–Young
    np.testing.assert_allclose(error, np.sqrt(np.sum(s[rank:] ** 2)), rtol=1e-8)


def test_global_ranks_keep_the_largest_singular_values_overall():
    rng = np.random.default_rng(3)
    kernels = {"big": 10 * rng.normal(size=(20, 8)), "conv": rng.normal(size=(3, 3, 2, 6)),
               "tiny": 1e-3 * rng.normal(size=(8, 4))}
    values = {n: np.linalg.svd(as_matrix(k), compute_uv=False) for n, k in kernels.items()}
    total = sum(s.size for s in values.values())  # 8 + 6 + 4 = 18
    ranks = global_ranks(kernels, 0.5)
    assert list(ranks) == list(kernels) and ranks["tiny"] == 1  # none kept, but at least rank 1
    assert ranks["big"] + ranks["conv"] == int(np.ceil(0.5 * total))
    kept = np.concatenate([values[n][:ranks[n]] for n in ("big", "conv")])
    dropped = np.concatenate([values[n][ranks[n]:] for n in kernels])
    assert kept.min() >= dropped.max()
    assert global_ranks(kernels, 1.0) == {n: full_rank(k.shape) for n, k in kernels.items()}
    assert global_ranks(kernels, 0.7) == {"big": 8, "conv": 5, "tiny": 1}  # ceil(0.7 * 18) = 13
    assert factorized_params((3, 3, 2, 6), 2, c_nonzeros=5) == 18 * 2 + 2 * 6 + 5


def test_bad_ranks_and_fractions_are_config_errors():
    kernel = np.ones((600, 500), np.float32)
    with pytest.raises(ConfigError, match="rank 600 is above the full rank 500 of a kernel of shape"):
        factors(kernel, 600)
    with pytest.raises(ConfigError, match="rank 0 of layer 'fc' must be at least 1"):
        factors(kernel, 0, name="fc")
    with pytest.raises(ConfigError, match="rank 6 is above the full rank 5 of layer 'fc'"):
        FactorizedDense(5, rank=6, name="fc")(tf.zeros((1, 7)))
    with pytest.raises(ConfigError, match="rank -1 of layer 'fc' must be a positive integer"):
        FactorizedDense(5, rank=-1, name="fc")
    with pytest.raises(ConfigError, match="takes no kernel_constraint"):
        FactorizedDense(5, kernel_constraint="non_neg")
    for keep in (0, 1.5, -0.1):
        with pytest.raises(ConfigError, match=f"keep {keep} must be a fraction .* in \\(0, 1\\]"):
            global_ranks({"fc": kernel}, keep)


# -- the layers --

@pytest.mark.parametrize("kind", ["dense", "conv"])
@pytest.mark.parametrize("rank", [0, 2])
def test_a_factorized_layer_computes_its_plain_layer(kind, rank):
    rng = np.random.default_rng(4)
    if kind == "dense":
        layer, x = FactorizedDense(6, rank=rank, activation="tanh"), inputs(shape=(9,))
    else:
        layer, x = FactorizedConv2D(6, 3, rank=rank, strides=2, padding="same"), inputs()
    layer(x)
    kernel = rng.normal(size=layer.kernel_shape).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    layer.set_plain_weights([kernel, bias])
    plain = layer.plain_layer()
    assert type(plain) in (keras.layers.Dense, keras.layers.Conv2D) and "rank" not in plain.get_config()
    plain(x)
    plain.set_weights(layer.plain_weights())
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), atol=1e-5)
    if rank == 0:  # full rank: the given kernel itself
        np.testing.assert_allclose(layer.plain_weights()[0], kernel, atol=1e-5)
    else:
        u, s, vt = np.linalg.svd(as_matrix(kernel).astype(np.float64), full_matrices=False)
        np.testing.assert_allclose(as_matrix(layer.plain_weights()[0]), (u[:, :2] * s[:2]) @ vt[:2], atol=1e-5)


def test_a_fresh_layer_starts_as_a_fresh_plain_layer():
    init = lambda: keras.initializers.GlorotUniform(11)  # noqa: E731
    x = inputs()
    layer = FactorizedConv2D(4, 3, kernel_initializer=init())
    plain = keras.layers.Conv2D(4, 3, kernel_initializer=init())
    np.testing.assert_allclose(layer(x).numpy(), plain(x).numpy(), atol=1e-5)
    assert not layer.c.numpy().any() and layer.kept_rank == 4


def test_masked_factors_stay_zero_after_sgd_with_momentum():
    model = factorized_model()
    optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
    x, y = inputs(1), tf.constant(np.arange(6) % 5)

    def steps(n):
        for _ in range(n):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    steps(3)  # momentum is nonzero everywhere, C has moved away from zero
    masks = random_masks(model, keep=0.5, seed=5)
    set_masks(model, masks)
    steps(5)
    for p in prunable_variables(model):
        value = p.variable.numpy()
        assert np.all(value[masks[p.name] == 0] == 0) and np.any(value[masks[p.name] == 1] != 0)


def test_protocol_helpers_read_the_three_factors():
    model = factorized_model(ranks=(3, 0))
    conv, fc = model.get_layer("conv"), model.get_layer("fc")
    names = ["conv/B", "conv/A", "conv/C", "fc/B", "fc/A", "fc/C"]
    assert [p.name for p in prunable_variables(model)] == names
    masks = random_masks(model, keep=0.6, seed=6)
    set_masks(model, masks)
    for layer in (conv, fc):  # C is zero after factorizing: give it values under the mask
        layer.c.assign(layer.c + 0.5 * layer.c_mask)
    sizes = {"conv/B": 18 * 3, "conv/A": 3 * 4, "conv/C": 18 * 4, "fc/B": 64 * 5, "fc/A": 25, "fc/C": 64 * 5}
    counts = count_weights(model)
    assert {n: counts[n]["total"] for n in names} == sizes
    assert {n: counts[n]["remaining"] for n in names} == {n: int(masks[n].sum()) for n in names}
    factor_values = [p.masked().numpy() for p in prunable_variables(model)]
    np.testing.assert_allclose(l1_penalty(model).numpy(), sum(np.abs(v).sum() for v in factor_values), rtol=1e-6)
    stored = sum(int(np.count_nonzero(v)) for v in factor_values)
    assert model_size_bits(model) == 32 * (stored + 4 + 5)
    for layer in (conv, fc):
        w = layer.effective_weights()
        b, a, c = (p.masked().numpy() for p in layer.prunable())
        np.testing.assert_allclose(as_matrix(w["kernel"].numpy()), product(b, a, c), atol=1e-6)
    plain = export_plain(model)
    assert [type(layer) for layer in plain.layers[1:]] == [keras.layers.Conv2D, keras.layers.Flatten,
                                                            keras.layers.Dense]
    np.testing.assert_allclose(plain(inputs()).numpy(), model(inputs()).numpy(), atol=1e-5)


def test_save_and_load_reproduce_outputs_and_masks(tmp_path):
    model = factorized_model(ranks=(2, 3))
    set_masks(model, random_masks(model, keep=0.7, seed=7))
    model.get_layer("fc").c.assign(model.get_layer("fc").c + model.get_layer("fc").c_mask)
    path = str(tmp_path / "factorized.keras")
    save_model(model, path)
    loaded = load_model(path)
    assert type(loaded.get_layer("fc")) is FactorizedDense and loaded.get_layer("conv").kept_rank == 2
    np.testing.assert_array_equal(loaded(inputs()).numpy(), model(inputs()).numpy())
    assert get_masks(loaded).keys() == get_masks(model).keys()
    for name, mask in get_masks(model).items():
        np.testing.assert_array_equal(get_masks(loaded)[name], mask)
    clone = FactorizedDense.from_config(model.get_layer("fc").get_config())  # masks travel in the config
    clone(tf.zeros((1, 64)))
    np.testing.assert_array_equal(clone.c_mask.numpy(), model.get_layer("fc").c_mask.numpy())


def test_to_factorized_at_full_rank_keeps_the_outputs():
    model = layer_models.small_convnet(0, bias_initializer="ones")
    set_masks(model, random_masks(model, seed=8))
    factorized = to_factorized(model)
    assert [type(factorized.get_layer(n)) for n in ("conv", "fc")] == [FactorizedConv2D, FactorizedDense]
    np.testing.assert_allclose(factorized(inputs()).numpy(), model(inputs()).numpy(), atol=1e-5)
    low = to_factorized(model, {"fc": 2})
    kernel = as_matrix(model.get_layer("fc").plain_weights()[0])
    u, s, vt = np.linalg.svd(kernel.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(as_matrix(low.get_layer("fc").plain_weights()[0]), (u[:, :2] * s[:2]) @ vt[:2],
                               atol=1e-5)
    np.testing.assert_array_equal(low.get_layer("fc").bias.numpy(), model.get_layer("fc").bias.numpy())
    ranks = global_ranks({n: model.get_layer(n).plain_weights()[0] for n in ("conv", "fc")}, 0.3)
    assert ranks == {"conv": 1, "fc": 3}  # the 3 largest of 9 are fc's; conv keeps its minimum of 1
    alr = to_factorized(model, ranks)
    assert {n: alr.get_layer(n).kept_rank for n in ranks} == ranks
    with pytest.raises(ConfigError, match="no masked layer named 'dense'; known: conv, fc"):
        to_factorized(model, {"dense": 2})
    with pytest.raises(ConfigError, match="has no MaskedDense or MaskedConv2D layer"):
        to_factorized(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
