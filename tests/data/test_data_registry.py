"""The dataset registry, option checking, and the tensorflow-datasets fallback (with a fake tfds)."""
import sys
import types

import numpy as np
import pytest

from tfrobust import data
from tfrobust.errors import ConfigError, DataError


def test_names():
    assert data.names() == ["cifar10", "fashion_mnist", "mnist", "synthetic"]


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown dataset 'imagenet'; known: cifar10, fashion_mnist, "
                                          r"mnist, synthetic"):
        data.load_arrays("imagenet")
    with pytest.raises(ConfigError, match=r"unknown dataset 'imagenet'"):
        data.load("imagenet")


def test_unknown_option_named():
    with pytest.raises(ConfigError, match=r"dataset 'synthetic' has no option 'seed'; its options: "
                                          r"data_seed, image_shape, noise_std, num_classes, test_size, train_size"):
        data.load_arrays("synthetic", seed=1)
    with pytest.raises(ConfigError, match=r"dataset 'fashion_mnist' has no option 'image_shape'; "
                                          r"its options: download"):
        data.load("fashion_mnist", image_shape=(28, 28, 1))


def test_options_listed_with_defaults():
    assert data.options("synthetic")["image_shape"] == (28, 28, 1)
    assert data.options("mnist") == {"download": False}


def test_arrays_are_frozen():
    arrays = data.load_arrays("synthetic", train_size=5, test_size=5)
    with pytest.raises(AttributeError):
        arrays.num_classes = 3


class _FakeBuilder:
    def __init__(self, name, data_dir, prepared, fail_download):
        self.name, self.prepared, self.fail_download = name, prepared, fail_download
        self.data_dir = f"{data_dir or '/fake/tfds'}/{name}/1.0.0"
        self.downloads = 0

    def is_prepared(self):
        return self.prepared

    def download_and_prepare(self):
        self.downloads += 1
        if self.fail_download:
            raise ConnectionError("network is unreachable\nmore detail")
        self.prepared = True

    def as_dataset(self, split, batch_size, as_supervised):
        assert split == ["train", "test"] and batch_size == -1 and as_supervised
        rng = np.random.default_rng(0)
        return tuple((rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8), np.arange(n) % 10)
                     for n in (12, 6))


@pytest.fixture
def fake_tfds(monkeypatch):
    module = types.ModuleType("tensorflow_datasets")
    module.settings = {"prepared": False, "fail_download": False}
    module.built = []

    def builder(name, data_dir=None):
        b = _FakeBuilder(name, data_dir, **module.settings)
        module.built.append(b)
        return b

    module.builder = builder
    module.as_numpy = lambda tree: tree
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
    return module


def test_tfds_not_prepared_is_not_downloaded(fake_tfds):
    with pytest.raises(DataError, match=r"tensorflow-datasets 'mnist' in /fake/tfds/mnist/1.0.0: not prepared, "
                                        r"and download=False"):
        data.load_arrays("mnist")
    assert fake_tfds.built[0].downloads == 0


def test_tfds_download_failure_is_reported(fake_tfds, tmp_path):
    fake_tfds.settings["fail_download"] = True
    with pytest.raises(DataError) as info:
        data.load_arrays("cifar10", data_dir=tmp_path, download=True)
    message = str(info.value)
    assert f"{tmp_path}/cifar10/1.0.0: download failed: ConnectionError: network is unreachable" in message
    assert "more detail" not in message  # one line per place


def test_tfds_prepared_data_is_used(fake_tfds):
    fake_tfds.settings["prepared"] = True
    arrays = data.load_arrays("mnist")
    assert arrays.source == "tensorflow-datasets 'mnist' in /fake/tfds/mnist/1.0.0"
    assert arrays.x_train.shape == (12, 28, 28, 1) and arrays.y_test.dtype == np.int64
    np.testing.assert_array_equal(arrays.y_train, np.arange(12) % 10)


def test_tfds_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import raises ImportError
    with pytest.raises(DataError, match=r"tensorflow-datasets: not installed"):
        data.load_arrays("mnist")
