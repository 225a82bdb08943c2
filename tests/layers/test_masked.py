import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import layer_models
from layer_models import random_masks
from tfrobust import models
from tfrobust.errors import ConfigError
from tfrobust.layers import MaskedDense, count_weights, get_masks, masked_layers, set_masks
from tfrobust.layers.masked import decode_mask, encode_mask
from tfrobust.saving import load_model, save_model


def small_convnet(seed=0):
    return layer_models.small_convnet(seed, activation="relu")



def train_steps(model, optimizer, steps, seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.random((16,) + tuple(model.input_shape[1:]), dtype=np.float32))
    y = tf.constant(rng.integers(0, 5, 16))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x)))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))


OPTIMIZERS = {
    "sgd_momentum_nesterov_wd": lambda: keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "adam": lambda: keras.optimizers.Adam(1e-2),
    "adamw": lambda: keras.optimizers.AdamW(1e-2, weight_decay=1e-2),
    "rmsprop": lambda: keras.optimizers.RMSprop(1e-2, momentum=0.5),
    "legacy_adam": lambda: keras.optimizers.legacy.Adam(1e-2),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_masked_weights_stay_exactly_zero_under_every_optimizer(opt):
    model = small_convnet()
    optimizer = OPTIMIZERS[opt]()
    train_steps(model, optimizer, 3)  # moments and momenta are non-zero everywhere now
    masks = random_masks(model)
    set_masks(model, masks)
    train_steps(model, optimizer, 10, seed=1)
    for layer in masked_layers(model):
        kernel = layer.kernel.numpy()
        assert np.all(kernel[masks[layer.name] == 0] == 0.0)
        assert np.any(kernel[masks[layer.name] == 1] != 0.0)  # the rest still trains


def test_masked_entries_get_zero_gradient():
    model = small_convnet()
    masks = random_masks(model, seed=3)
    set_masks(model, masks)
    x = tf.random.uniform((4, 8, 8, 2), seed=1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x) ** 2)
    grads = tape.gradient(loss, [layer.kernel for layer in masked_layers(model)])
    for layer, g in zip(masked_layers(model), grads):
        assert np.all(g.numpy()[masks[layer.name] == 0] == 0.0)
        assert np.any(g.numpy()[masks[layer.name] == 1] != 0.0)


def test_mask_changes_the_output_as_zeroed_weights_would():
    model = small_convnet()
    x = tf.random.uniform((3, 8, 8, 2), seed=2)
    masks = random_masks(model, seed=4)
    reference = small_convnet()
    reference.set_weights(model.get_weights())
    for layer in masked_layers(reference):  # zero the kernel by hand, mask left at ones
        layer.kernel.assign(layer.kernel * masks[layer.name])
    set_masks(model, masks)
    np.testing.assert_allclose(model(x).numpy(), reference(x).numpy(), rtol=1e-6, atol=1e-6)


def test_count_weights():
    model = small_convnet()
    masks = random_masks(model, keep=0.25, seed=5)
    set_masks(model, masks)
    counts = count_weights(model)
    for name, m in masks.items():
        assert counts[name]["total"] == m.size
        assert counts[name]["remaining"] == int(m.sum())
    assert counts["total"]["total"] == 3 * 3 * 2 * 4 + 36 * 4 * 5
    assert counts["total"]["remaining"] == sum(int(m.sum()) for m in masks.values())


def test_set_masks_rejects_bad_masks():
    model = small_convnet()
    with pytest.raises(ConfigError, match="shape"):
        set_masks(model, {"fc": np.ones((3, 3))})
    with pytest.raises(ConfigError, match="only 0 and 1"):
        set_masks(model, {"fc": np.full(get_masks(model)["fc"].shape, 0.5)})
    with pytest.raises(ConfigError, match="no masked layer named 'nope'"):
        set_masks(model, {"nope": np.ones(1)})


def test_mask_encoding_round_trips():
    mask = (np.random.default_rng(0).random((5, 7, 3)) < 0.3).astype(np.float32)
    np.testing.assert_array_equal(decode_mask(encode_mask(mask)), mask)


def test_mask_is_in_get_config_and_from_config_restores_it():
    model = small_convnet()
    masks = random_masks(model, seed=6)
    set_masks(model, masks)
    layer = model.get_layer("fc")
    config = layer.get_config()
    assert config["mask"] is not None and config["kernel_constraint"] is None
    clone = MaskedDense.from_config(config)
    clone.build((None, 144))
    np.testing.assert_array_equal(clone.mask.numpy(), masks["fc"])
    assert MaskedDense(3).get_config()["mask"] is None  # an unpruned layer stays small


def test_model_survives_keras_save_and_load(tmp_path):
    model = small_convnet()
    set_masks(model, random_masks(model, seed=7))
    train_steps(model, keras.optimizers.Adam(1e-2), 3)
    path = str(tmp_path / "m.keras")
    save_model(model, path)
    loaded = load_model(path)
    x = tf.random.uniform((4, 8, 8, 2), seed=3)
    np.testing.assert_array_equal(model(x).numpy(), loaded(x).numpy())
    for name, mask in get_masks(model).items():
        np.testing.assert_array_equal(get_masks(loaded)[name], mask)
    # the loaded model keeps its masks under further training
    train_steps(loaded, keras.optimizers.Adam(1e-2), 3)
    for layer in masked_layers(loaded):
        assert np.all(layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)


def test_masks_survive_checkpoints_and_weight_round_trips(tmp_path):
    model = small_convnet()
    masks = random_masks(model, seed=8)
    set_masks(model, masks)
    ckpt_path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    fresh = small_convnet(seed=9)
    tf.train.Checkpoint(model=fresh).read(ckpt_path).assert_consumed()
    for name, mask in masks.items():
        np.testing.assert_array_equal(get_masks(fresh)[name], mask)
    other = small_convnet(seed=10)
    other.set_weights(model.get_weights())
    for name, mask in masks.items():
        np.testing.assert_array_equal(get_masks(other)[name], mask)


def test_zoo_models_are_all_masked():
    model = models.build_model("caffe-lenet", (28, 28, 1), 10)
    kernels = [v for v in model.trainable_variables if "kernel" in v.name]
    assert len(kernels) == len(masked_layers(model)) == 4
