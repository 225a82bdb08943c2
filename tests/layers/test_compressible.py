"""The compressible-layer protocol: what masked layers expose, size in bits, the L1 penalty, and a
third layer type that pruning, counting and L1 handle through the protocol alone."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import layer_models
from layer_models import random_masks
from tfrobust import models
from tfrobust.errors import ConfigError
from tfrobust.layers import (Compressible, MaskedConv2D, MaskedDense, Prunable, compressible_layers,
                             count_weights, export_plain, get_masks, l1_penalty, masked_layers,
                             model_size_bits, prunable_variables, set_masks, sparsity)
from tfrobust.pruning.magnitude import layer_rates, prune_masks


class LowRank(Compressible, keras.layers.Layer):
    """A toy factorized dense layer, ``x @ (u * mu) @ (v * mv) + b``: two prunable variables."""

    def __init__(self, units, rank, prefix=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.rank, self.prefix = units, rank, prefix

    def build(self, input_shape):
        init = keras.initializers.GlorotUniform(7)
        self.u = self.add_weight(name="u", shape=(input_shape[-1], self.rank), initializer=init)
        self.v = self.add_weight(name="v", shape=(self.rank, self.units), initializer=init)
        self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
        self.mu = self.add_weight(name="mu", shape=self.u.shape, initializer="ones", trainable=False)
        self.mv = self.add_weight(name="mv", shape=self.v.shape, initializer="ones", trainable=False)

    def effective_weights(self):
        return {"kernel": (self.u * self.mu) @ (self.v * self.mv), "bias": tf.convert_to_tensor(self.b)}

    def call(self, x):
        w = self.effective_weights()
        return x @ w["kernel"] + w["bias"]

    def prunable(self):
        prefix = self.prefix or self.name
        return [Prunable(f"{prefix}/u", self.u, self.mu), Prunable(f"{prefix}/v", self.v, self.mv)]

    def size_bits(self):
        return 32 * (int(np.count_nonzero(self.mu.numpy())) + int(np.count_nonzero(self.mv.numpy())) + self.units)


def toy_model():
    inputs = keras.Input((12,))
    x = MaskedDense(20, name="fc", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
    x = LowRank(6, 4, name="toy")(x)
    return keras.Model(inputs, x)


def small_convnet(seed=0):
    return layer_models.small_convnet(seed, bias_initializer="ones")



# -- masked layers implement the protocol --

def test_a_masked_layer_has_one_prunable_variable_named_after_it():
    model = small_convnet()
    set_masks(model, random_masks(model, seed=1))
    assert compressible_layers(model) == masked_layers(model) == [model.get_layer("conv"), model.get_layer("fc")]
    for layer in masked_layers(model):
        [p] = layer.prunable()
        assert p.name == layer.name and p.variable is layer.kernel and p.mask is layer.mask
        weights = layer.effective_weights()
        assert list(weights) == ["kernel", "bias"]
        np.testing.assert_array_equal(weights["kernel"].numpy(), layer.kernel.numpy() * layer.mask.numpy())
        np.testing.assert_array_equal(weights["bias"].numpy(), layer.bias.numpy())
        np.testing.assert_array_equal(layer.plain_weights()[0], weights["kernel"].numpy())
    no_bias = MaskedDense(3, use_bias=False)
    no_bias.build((None, 2))
    assert list(no_bias.effective_weights()) == ["kernel"] and len(no_bias.plain_weights()) == 1


@pytest.mark.parametrize("use_bias", [False, True])
def test_size_in_bits_of_a_half_pruned_dense_300_100(use_bias):
    model = models.build_model("dense-300-100", (28, 28, 1), 10, seed=0, use_bias=use_bias)
    set_masks(model, prune_masks(model, layer_rates(model, 0.5, 0.5)))
    remaining = 784 * 300 // 2 + 300 * 100 // 2 + 100 * 10 // 2
    bias = (300 + 100 + 10) if use_bias else 0
    assert count_weights(model)["total"]["remaining"] == remaining
    assert model_size_bits(model) == 32 * (remaining + bias)
    assert model.get_layer("output").size_bits() == 32 * (500 + (10 if use_bias else 0))


def test_model_size_counts_every_other_weight_at_32_bits():
    inputs = keras.Input((6, 6, 1))
    x = MaskedConv2D(3, 3, name="conv")(inputs)                # 27 kernel entries + 3 biases
    x = keras.layers.BatchNormalization(name="bn")(x)         # 4 x 3 entries
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(2, name="plain")(x)                # 48 * 2 + 2 entries
    model = keras.Model(inputs, x)
    mask = np.zeros((3, 3, 1, 3), np.float32)
    mask.flat[:10] = 1
    set_masks(model, {"conv": mask})
    assert model.get_layer("conv").size_bits() == 32 * (10 + 3)
    assert model_size_bits(model) == 32 * (10 + 3) + 32 * (12 + 98)


# -- the L1 penalty --

def test_l1_penalty_is_the_sum_of_the_absolute_masked_weights():
    model = small_convnet()
    masks = random_masks(model, seed=2)
    set_masks(model, masks)
    for layer in masked_layers(model):  # nonzero weights under the mask: the penalty must ignore them
        layer.kernel.assign(layer.kernel + 1.0)
    expected = sum(np.abs(layer.kernel.numpy() * masks[layer.name]).sum() for layer in masked_layers(model))
    np.testing.assert_allclose(l1_penalty(model).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(tf.function(lambda: l1_penalty(model))().numpy(), expected, rtol=1e-6)
    kernels = [layer.kernel for layer in masked_layers(model)]
    with tf.GradientTape() as tape:
        penalty = l1_penalty(model)
    for layer, grad in zip(masked_layers(model), tape.gradient(penalty, kernels)):
        np.testing.assert_array_equal(grad.numpy(), np.sign(layer.kernel.numpy()) * masks[layer.name])
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert l1_penalty(plain).dtype == tf.float32 and l1_penalty(plain).numpy() == 0.0


# -- a third layer type: the protocol is the only join --

def test_a_new_layer_type_is_counted_masked_and_penalised_through_the_protocol():
    model = toy_model()
    toy = model.get_layer("toy")
    assert masked_layers(model) == [model.get_layer("fc"), toy]
    assert [p.name for p in prunable_variables(model)] == ["fc", "toy/u", "toy/v"]
    masks = random_masks(model, keep=0.4, seed=3)
    set_masks(model, masks)
    assert np.all(toy.u.numpy()[masks["toy/u"] == 0] == 0) and np.all(toy.v.numpy()[masks["toy/v"] == 0] == 0)
    counts = count_weights(model)
    assert {n: (c["total"], c["remaining"]) for n, c in counts.items()} == {
        "fc": (240, int(masks["fc"].sum())), "toy/u": (80, int(masks["toy/u"].sum())),
        "toy/v": (24, int(masks["toy/v"].sum())),
        "total": (344, int(sum(m.sum() for m in masks.values())))}
    u, v, k = toy.u.numpy(), toy.v.numpy(), model.get_layer("fc").kernel.numpy()
    np.testing.assert_allclose(l1_penalty(model).numpy(), np.abs(u).sum() + np.abs(v).sum() + np.abs(k).sum(), rtol=1e-6)
    remaining = int(sum(m.sum() for m in masks.values()))
    assert model_size_bits(model) == 32 * (remaining + 20 + 6)
    assert sparsity(model) == {n: float(np.mean(m == 0)) for n, m in masks.items()}
    with pytest.raises(ConfigError, match="layer 'toy' \\(LowRank\\) has no plain Keras equivalent"):
        export_plain(model)
    with pytest.raises(ConfigError, match="mask for 'toy/v' has shape \\(2,\\); its variable"):
        set_masks(model, {"toy/v": np.ones(2)})


def test_a_new_layer_type_is_magnitude_pruned_through_the_protocol():
    model = toy_model()
    rates = layer_rates(model, 0.5, 0.25)
    assert rates == {"fc": 0.5, "toy/u": 0.25, "toy/v": 0.25}  # the output rate: every mask of the last layer
    masks = prune_masks(model, rates)
    assert {n: int(np.count_nonzero(m)) for n, m in masks.items()} == {"fc": 120, "toy/u": 60, "toy/v": 18}
    toy = model.get_layer("toy")
    for name, w in (("toy/u", toy.u.numpy()), ("toy/v", toy.v.numpy())):
        assert np.abs(w)[masks[name] == 0].max() <= np.abs(w)[masks[name] == 1].min()
    set_masks(model, masks)
    again = prune_masks(model, rates)
    assert {n: int(np.count_nonzero(m)) for n, m in again.items()} == {"fc": 60, "toy/u": 45, "toy/v": 14}
    pooled = prune_masks(model, global_rate=0.5, skip=("fc",))
    assert np.count_nonzero(pooled["toy/u"]) + np.count_nonzero(pooled["toy/v"]) == (60 + 18) // 2
    np.testing.assert_array_equal(pooled["fc"], masks["fc"])
    with pytest.raises(ConfigError, match="no masked layer named 'toy'; known: fc, toy/u, toy/v"):
        prune_masks(model, {"toy": 0.5})


def test_mask_names_must_be_unique():
    inputs = keras.Input((4,))
    x = LowRank(3, 2, prefix="same", name="a")(inputs)
    model = keras.Model(inputs, LowRank(3, 2, prefix="same", name="b")(x))
    with pytest.raises(ConfigError, match="several masks named 'same/u', 'same/v'"):
        get_masks(model)
