"""Plain-Keras export and tensorflow-model-optimization interop."""

import numpy as np
import pytest
import tf_keras as keras

from tfrobust import data, models
from tfrobust.errors import ConfigError
from tfrobust.layers import get_masks, set_masks
from tfrobust.pruning import layer_rates, prune_masks
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
