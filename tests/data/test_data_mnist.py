"""fashion_mnist and mnist from IDX files: where they look, what they check, what they say."""
import os

import numpy as np
import pytest

from tfrobust import data
from tfrobust.data import mnist
from tfrobust.errors import DataError

REAL_DIR = "/usr/share/datasets/fashion-mnist"


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_data_dir(tmp_path, write_idx_dataset, image_ids, gz):
    directory = write_idx_dataset(tmp_path / "fm", n_train=60, n_test=20, gz=gz)
    arrays = data.load_arrays("fashion_mnist", data_dir=directory)
    assert arrays.x_train.shape == (60, 28, 28, 1) and arrays.x_train.dtype == np.uint8
    assert arrays.x_test.shape == (20, 28, 28, 1)
    assert arrays.y_train.dtype == np.int64 and arrays.y_test.dtype == np.int64
    np.testing.assert_array_equal(arrays.y_train, np.arange(60) % 10)
    np.testing.assert_array_equal(image_ids(arrays.x_train), np.arange(60))  # file order kept
    np.testing.assert_array_equal(image_ids(arrays.x_test), 10_000 + np.arange(20))
    assert arrays.num_classes == 10 and arrays.name == "fashion_mnist"
    assert arrays.source == directory


def test_dotted_names_and_subdirectory(tmp_path, write_idx_dataset):
    sub = write_idx_dataset(tmp_path / "mnist", n_train=30, n_test=10, gz=False)
    for base in os.listdir(sub):  # train-images-idx3-ubyte -> train-images.idx3-ubyte
        os.rename(os.path.join(sub, base), os.path.join(sub, base.replace("-idx", ".idx")))
    arrays = data.load_arrays("mnist", data_dir=tmp_path)
    assert arrays.train_size == 30 and arrays.test_size == 10
    assert arrays.source == str(tmp_path / "mnist")


def test_image_label_count_mismatch(tmp_path, write_idx_dataset):
    directory = write_idx_dataset(tmp_path, n_train=60, y_train=np.zeros(59, np.uint8))
    with pytest.raises(DataError, match=r"image/label count mismatch: .*train-images-idx3-ubyte.gz "
                                        r"has 60 images but .*train-labels-idx1-ubyte.gz has 59 labels"):
        data.load_arrays("fashion_mnist", data_dir=directory)


def test_labels_out_of_range(tmp_path, write_idx_dataset):
    labels = np.zeros(20, np.uint8)
    labels[7] = 10
    directory = write_idx_dataset(tmp_path, n_test=20, y_test=labels)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: label 10 at index 7 is outside 0..9"):
        data.load_arrays("mnist", data_dir=directory)


def test_corrupt_file_is_reported_not_skipped(tmp_path, write_idx_dataset):
    directory = write_idx_dataset(tmp_path)
    path = os.path.join(directory, "t10k-images-idx3-ubyte.gz")
    raw = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(raw[:-30])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: truncated gzip stream"):
        data.load_arrays("fashion_mnist", data_dir=directory)


def test_wrong_image_dtype(tmp_path, write_idx_dataset):
    directory = write_idx_dataset(tmp_path, x_test=np.zeros((20, 28, 28), np.float32))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: expected uint8 images"):
        data.load_arrays("fashion_mnist", data_dir=directory)


def test_missing_lists_every_place_looked(tmp_path, write_idx_dataset):
    (tmp_path / "fashion_mnist").mkdir()
    partial = tmp_path / "fashion-mnist"
    write_idx_dataset(partial)
    os.remove(partial / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataError) as info:
        data.load_arrays("fashion_mnist", data_dir=tmp_path)
    message = str(info.value)
    assert f"{tmp_path}: none of the IDX files" in message
    assert f"{tmp_path / 'fashion_mnist'}: none of the IDX files" in message
    assert f"{partial}: incomplete: missing t10k-labels-idx1-ubyte" in message
    assert "tensorflow-datasets" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "data_dir" in message and "train-images-idx3-ubyte" in message
    assert "download=True" in message


def test_missing_data_dir(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(DataError, match=rf"{missing}: no such directory") as info:
        data.load_arrays("mnist", data_dir=missing)
    assert "dataset 'mnist' not found" in str(info.value)
    assert not missing.exists()  # looking created nothing


def test_system_directory_is_the_default(monkeypatch, tmp_path, write_idx_dataset):
    directory = write_idx_dataset(tmp_path / "system", n_train=10, n_test=10)
    monkeypatch.setattr(mnist, "SYSTEM_FASHION_MNIST_DIR", directory)
    assert data.load_arrays("fashion_mnist").source == directory


@pytest.mark.skipif(not os.path.isdir(REAL_DIR), reason=f"{REAL_DIR} absent "
                    "(apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist():
    splits = data.load("fashion_mnist", batch_size=1000, valid_size=5000)
    assert (splits.train_size, splits.valid_size, splits.test_size) == (55000, 5000, 10000)
    assert splits.input_shape == (28, 28, 1) and splits.num_classes == 10
    assert splits.source == REAL_DIR
    arrays = data.load_arrays("fashion_mnist")
    assert (arrays.train_size, arrays.test_size) == (60000, 10000)
    assert np.bincount(arrays.y_train).tolist() == [6000] * 10
    assert np.bincount(arrays.y_test).tolist() == [1000] * 10
    x, y = next(iter(splits.test))
    assert x.shape == (1000, 28, 28, 1) and 0.0 <= float(x.numpy().min()) < float(x.numpy().max()) <= 1.0
