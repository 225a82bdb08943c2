"""Small IDX datasets written by the tests: each image carries its own index in two pixels."""
import os

import numpy as np
import pytest

from tfrobust import data

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def tagged_images(n, height=28, width=28, offset=0):
    """uint8 images whose pixels (0, 0) and (0, 1) hold ``offset + index`` (base 256)."""
    rng = np.random.default_rng(n + offset)
    x = rng.integers(0, 256, size=(n, height, width), dtype=np.uint8)
    ids = np.arange(offset, offset + n)
    x[:, 0, 0], x[:, 0, 1] = ids % 256, ids // 256
    return x


def image_ids(x):
    """Recovers the tags of :func:`tagged_images` from uint8 or [0, 1] float images."""
    x = np.asarray(x)
    if x.dtype != np.uint8:
        x = np.rint(x * 255).astype(np.int64)
    x = x.astype(np.int64)
    return x[:, 0, 0, 0] + 256 * x[:, 0, 1, 0]


def write_idx_dataset(directory, n_train=60, n_test=20, gz=True, height=28, width=28, **override):
    """Writes the four IDX files of an MNIST-like dataset; ``override`` replaces arrays by role."""
    os.makedirs(directory, exist_ok=True)
    arrays = {
        "x_train": tagged_images(n_train, height, width),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": tagged_images(n_test, height, width, offset=10_000),
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }
    arrays.update(override)
    for role, base in IDX_NAMES.items():
        data.write_idx(os.path.join(directory, base + (".gz" if gz else "")), arrays[role])
    return str(directory)


@pytest.fixture
def fashion_dir(tmp_path):
    return write_idx_dataset(tmp_path / "fm")


# Helpers as fixtures, so test modules need no import of this file (works in any import mode).
@pytest.fixture(name="write_idx_dataset")
def _write_idx_dataset_fixture():
    return write_idx_dataset


@pytest.fixture(name="tagged_images")
def _tagged_images_fixture():
    return tagged_images


@pytest.fixture(name="image_ids")
def _image_ids_fixture():
    return image_ids
