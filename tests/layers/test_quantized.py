"""Quantized layers: the forward pass uses the snapped masked kernel, a straight-through gradient,
masks that hold under training, saving, conversion from masked models, size in bits, bad input."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import layer_models
from layer_models import random_masks
from tfrobust.compression.quantize import distinct_values, kmeans_fixed_zero, uniform_per_channel
from tfrobust.errors import ConfigError
from tfrobust.layers import MaskedDense, export_plain, get_masks, masked_layers, model_size_bits, set_masks
from tfrobust.layers.quantized import QuantizedConv2D, QuantizedDense, to_quantized
from tfrobust.saving import load_model, save_model


def quantized_convnet(bits=3, method="kmeans", seed=0, keep=0.5):
    """small_convnet (relu, biases of ones) with random masks, quantized."""
    model = layer_models.small_convnet(seed, activation="relu", bias_initializer="ones")
    set_masks(model, random_masks(model, keep=keep, seed=seed))
    return model, to_quantized(model, bits, method)


def inputs(seed=0, n=4):
    return tf.constant(np.random.default_rng(seed).random((n, 8, 8, 2), dtype=np.float32))


def train_steps(model, optimizer, steps, seed=0):
    x = inputs(seed, 16)
    y = tf.constant(np.random.default_rng(seed).integers(0, 5, 16))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))


@pytest.mark.parametrize("method, bits", [("kmeans", 1), ("kmeans", 3), ("kmeans", 8), ("uniform", 2), ("uniform", 4)])
def test_the_forward_pass_is_the_plain_layer_with_the_snapped_kernel(method, bits):
    _, model = quantized_convnet(bits, method)
    for layer in masked_layers(model):
        assert type(layer) in (QuantizedConv2D, QuantizedDense)
        masked = layer.kernel.numpy() * layer.mask.numpy()
        snapped = layer.effective_weights()["kernel"].numpy()
        expected = (kmeans_fixed_zero(masked, bits)[1] if method == "kmeans"
                    else uniform_per_channel(masked, bits)[1])
        np.testing.assert_array_equal(snapped, expected)  # TF's snap is the NumPy quantizer, exactly
        np.testing.assert_array_equal(layer.plain_weights()[0], snapped)
        assert np.all(snapped[layer.mask.numpy() == 0] == 0)
        if method == "kmeans":
            assert distinct_values(snapped) <= 2 ** bits and layer.codebook.shape == (2 ** bits,)
        else:
            assert layer.codebook.shape == (snapped.shape[-1],)
            assert max(distinct_values(snapped[..., c]) for c in range(snapped.shape[-1])) <= 2 ** bits - 1
    plain = export_plain(model)  # Dense/Conv2D with the snapped kernels
    assert [type(layer) for layer in plain.layers[1:]] == [keras.layers.Conv2D, keras.layers.Flatten,
                                                          keras.layers.Dense]
    assert "bits" not in plain.get_layer("fc").get_config()
    x = inputs()
    np.testing.assert_allclose(model(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(tf.function(model)(x).numpy(), model(x).numpy())


def test_the_gradient_is_straight_through_to_the_masked_kernel():
    masked, model = quantized_convnet(3)
    reference = layer_models.small_convnet(activation="relu")  # masked layers holding the snapped kernels
    for ref, layer in zip(masked_layers(reference), masked_layers(model)):
        ref.set_weights([layer.effective_weights()["kernel"].numpy(), layer.bias.numpy(), layer.mask.numpy()])
    x = inputs(1)
    grads = []
    for m in (model, reference):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(m(x) ** 2)
        grads.append(tape.gradient(loss, [layer.kernel for layer in masked_layers(m)]))
    for layer, g, g_ref in zip(masked_layers(model), *grads):
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-5, atol=1e-6)
        assert np.all(g.numpy()[layer.mask.numpy() == 0] == 0) and np.any(g.numpy() != 0)


def test_masked_entries_stay_zero_under_training_and_the_codebook_waits_for_fit_codebook():
    masked, model = quantized_convnet(2)
    masks = get_masks(model)
    codebooks = [layer.codebook.numpy() for layer in masked_layers(model)]
    kernels = [layer.kernel.numpy() for layer in masked_layers(model)]
    train_steps(model, keras.optimizers.Adam(1e-2), 5)
    for layer, codebook, kernel in zip(masked_layers(model), codebooks, kernels):
        k = layer.kernel.numpy()
        assert np.all(k[masks[layer.name] == 0] == 0) and not np.array_equal(k, kernel)  # the float kernel trains
        np.testing.assert_array_equal(layer.codebook.numpy(), codebook)
        assert set(np.unique(layer.effective_weights()["kernel"].numpy())) <= set(codebook)
        layer.fit_codebook()
        assert not np.array_equal(layer.codebook.numpy(), codebook)
        np.testing.assert_array_equal(layer.effective_weights()["kernel"].numpy(), kmeans_fixed_zero(k, 2)[1])
    np.testing.assert_array_equal(get_masks(masked)["fc"], masks["fc"])  # the original is untouched


@pytest.mark.parametrize("method", ["kmeans", "uniform"])
def test_a_saved_model_restores_outputs_masks_and_codebooks(tmp_path, method):
    _, model = quantized_convnet(4, method)
    train_steps(model, keras.optimizers.Adam(1e-2), 3)  # codebooks no longer fit the kernels: not refitted on load
    path = str(tmp_path / "q.keras")
    save_model(model, path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded(inputs()).numpy(), model(inputs()).numpy())
    for old, new in zip(masked_layers(model), masked_layers(loaded)):
        assert type(new) is type(old) and (new.bits, new.method) == (4, method)
        np.testing.assert_array_equal(new.codebook.numpy(), old.codebook.numpy())
        np.testing.assert_array_equal(new.mask.numpy(), old.mask.numpy())


def test_to_quantized_keeps_masks_and_weights_and_is_close_at_8_bits():
    masked, model = quantized_convnet(8)
    x = inputs(2)
    error = np.abs(model(x).numpy() - masked(x).numpy()).max()
    assert 0 < error < 1e-2 * np.abs(masked(x).numpy()).max()
    for name, mask in get_masks(masked).items():
        np.testing.assert_array_equal(get_masks(model)[name], mask)
    for old, new in zip(masked_layers(masked), masked_layers(model)):
        np.testing.assert_array_equal(new.kernel.numpy(), old.kernel.numpy())
        np.testing.assert_array_equal(new.bias.numpy(), old.bias.numpy())
        assert {k: v for k, v in new.get_config().items() if k not in ("bits", "method")} == old.get_config()
    coarse = to_quantized(masked, 1)
    assert np.abs(coarse(x).numpy() - masked(x).numpy()).max() > 10 * error
    with pytest.raises(ConfigError, match="no MaskedDense or MaskedConv2D layer to quantize"):
        to_quantized(model, 2)  # quantized layers are not quantized again


def test_to_quantized_copies_layers_already_quantized_as_they_are():
    inputs_ = keras.Input((8, 8, 2))
    x = QuantizedConv2D(4, 3, bits=3, name="conv")(inputs_)
    x = keras.layers.Dense(6, name="plain")(keras.layers.Flatten()(x))
    mixed = keras.Model(inputs_, MaskedDense(5, name="fc")(x))
    mixed.get_layer("conv").kernel.assign_add(tf.ones((3, 3, 2, 4)))  # its codebook no longer fits: copied, not refit
    converted = to_quantized(mixed, 2)
    conv, fc = converted.get_layer("conv"), converted.get_layer("fc")
    assert (type(conv), conv.bits, type(fc), fc.bits) == (QuantizedConv2D, 3, QuantizedDense, 2)
    np.testing.assert_array_equal(conv.codebook.numpy(), mixed.get_layer("conv").codebook.numpy())
    np.testing.assert_array_equal(converted.get_layer("plain").kernel.numpy(), mixed.get_layer("plain").kernel.numpy())
    np.testing.assert_array_equal(conv.effective_weights()["kernel"].numpy(),
                                  mixed.get_layer("conv").effective_weights()["kernel"].numpy())
    np.testing.assert_array_equal(fc.kernel.numpy(), mixed.get_layer("fc").kernel.numpy())


def test_size_in_bits_counts_codes_biases_and_the_codebook():
    masked, model = quantized_convnet(3, keep=0.25)
    conv, fc = masked_layers(model)
    nnz = {name: int(mask.sum()) for name, mask in get_masks(model).items()}
    assert conv.size_bits() == 3 * nnz["conv"] + 32 * (4 + 8)
    assert fc.size_bits() == 3 * nnz["fc"] + 32 * (5 + 8)
    assert model_size_bits(model) == conv.size_bits() + fc.size_bits()
    uniform = to_quantized(masked, 6, "uniform")
    assert uniform.get_layer("fc").size_bits() == 6 * nnz["fc"] + 32 * (5 + 5)  # one scale per unit
    assert model_size_bits(masked) == 32 * (nnz["conv"] + nnz["fc"] + 4 + 5)


def test_few_distinct_values_are_exact_and_set_plain_weights_refits():
    layer = QuantizedDense(3, bits=2)
    layer.build((None, 4))
    kernel = np.zeros((4, 3), np.float32)
    kernel[0, 0], kernel[1, 2], kernel[3, 1] = 0.5, -1.0, 0.5
    layer.set_plain_weights([kernel, np.arange(3, dtype=np.float32)])
    np.testing.assert_array_equal(layer.mask.numpy(), kernel != 0)
    np.testing.assert_array_equal(layer.codebook.numpy(), [-1.0, 0.0, 0.0, 0.5])  # padded with zeros
    np.testing.assert_array_equal(layer.effective_weights()["kernel"].numpy(), kernel)
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    np.testing.assert_allclose(layer(x).numpy(), x @ kernel + np.arange(3), rtol=1e-6)
    config = layer.get_config()
    assert (config["bits"], config["method"]) == (2, "kmeans") and config["mask"] is not None
    clone = QuantizedDense.from_config(config)
    clone.build((None, 4))
    np.testing.assert_array_equal(clone.mask.numpy(), layer.mask.numpy())


@pytest.mark.parametrize("make, message", [
    (lambda: QuantizedDense(3, bits=0), "bits=0 is not allowed; it must be an integer in \\[1, 32\\]"),
    (lambda: QuantizedDense(3, bits=2.5), "bits=2.5 is not allowed"),
    (lambda: QuantizedConv2D(3, 3, bits=17), "bits=17 is not allowed for a k-means quantized layer.*\\[1, 16\\]"),
    (lambda: QuantizedConv2D(3, 3, bits=33, method="uniform"), "bits=33 is not allowed"),
    (lambda: QuantizedDense(3, bits=1, method="uniform"), "bits=1 is not allowed for method='uniform'"),
    (lambda: QuantizedDense(3, method="binary"), "method='binary' is not allowed; known: kmeans, uniform"),
    (lambda: to_quantized(layer_models.small_convnet(), bits=0), "bits=0 is not allowed"),
    (lambda: to_quantized(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), 8),
     "has no MaskedDense or MaskedConv2D layer to quantize"),
])
def test_bad_bits_methods_and_models_are_clear_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()
