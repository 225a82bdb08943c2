"""Plain-Keras export and tensorflow-model-optimization interop."""

import numpy as np
import pytest
import tf_keras as keras

from tfrobust import data, models
from tfrobust.errors import ConfigError
from tfrobust.layers import get_masks, set_masks
from tfrobust.pruning import layer_rates, prune_masks
from tfrobust.layers import plain as plain_module
from tfrobust.pruning.interop import export_plain, from_plain, sparsity, tfmot_prune

SHAPE = (12, 12, 1)


@pytest.fixture
def lenet():
    return models.build_model("lenet", SHAPE, 10, seed=0, width=1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((8, *SHAPE), dtype=np.float32)


def test_export_folds_the_masks_into_plain_layers(lenet, images, tmp_path):
    set_masks(lenet, prune_masks(lenet, layer_rates(lenet, 0.5, 0.25)))
    plain = export_plain(lenet)
    assert {type(layer).__name__ for layer in plain.layers} == {"InputLayer", "Conv2D", "MaxPooling2D", "Flatten", "Dense"}
    np.testing.assert_allclose(plain(images), lenet(images), atol=1e-6)
    assert sparsity(plain) == sparsity(lenet) == {"conv_1": 0.5, "conv_2": 0.5, "fc_1": 0.5, "fc_2": 0.25}
    path = str(tmp_path / "plain.keras")
    plain.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(images), lenet(images), atol=1e-6)


def test_export_then_import_gives_back_the_same_masks_and_outputs(lenet, images):
    assert (export_plain, from_plain, sparsity) == (
        plain_module.export_plain, plain_module.from_plain, plain_module.sparsity)  # one implementation
    set_masks(lenet, prune_masks(lenet, layer_rates(lenet, 0.3, 0.6)))
    back = from_plain(export_plain(lenet))
    assert [type(layer) for layer in back.layers] == [type(layer) for layer in lenet.layers]
    for name, mask in get_masks(lenet).items():
        np.testing.assert_array_equal(get_masks(back)[name], mask)
    np.testing.assert_array_equal(back(images), lenet(images))


def test_only_functional_and_sequential_models_convert():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ConfigError, match="not a functional or sequential Keras model"):
        export_plain(Sub(name="sub"))


def test_tfmot_constant_sparsity_matches_our_magnitude_pruning(lenet, images, tmp_path):
    splits = data.load("synthetic", batch_size=16, image_shape=SHAPE, train_size=64, test_size=8)
    targets = layer_rates(lenet, 0.5, 0.25)
    stripped = tfmot_prune(lenet, targets, splits.train)
    assert sparsity(stripped) == targets  # exactly the requested sparsity per layer
    ours = prune_masks(lenet, targets)
    back = from_plain(stripped)  # strip_pruning's output round-trips into a masked model
    for name, mask in get_masks(back).items():
        np.testing.assert_array_equal(mask, ours[name])
    np.testing.assert_allclose(back(images), stripped(images), atol=1e-6)
    path = str(tmp_path / "stripped.keras")
    stripped.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(images), stripped(images), atol=1e-6)
    np.testing.assert_allclose(export_plain(back)(images), stripped(images), atol=1e-6)


def test_tfmot_prune_rejects_unknown_layers_and_rates(lenet):
    with pytest.raises(ConfigError, match="no layer named 'fc_9'"):
        tfmot_prune(lenet, {"fc_9": 0.5}, dataset=None)
    with pytest.raises(ConfigError, match="must be in \\[0, 1\\)"):
        tfmot_prune(lenet, {"fc_1": 1.5}, dataset=None)
