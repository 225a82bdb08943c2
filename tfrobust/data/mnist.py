"""MNIST and Fashion-MNIST: four IDX files (plain or .gz), else tensorflow-datasets.

Where each looks, in order:

* ``fashion_mnist``: ``data_dir`` (and its subdirectories ``fashion_mnist/``, ``fashion-mnist/``)
  when given, else ``/usr/share/datasets/fashion-mnist/`` (Debian package
  ``dataset-fashion-mnist``); then tensorflow-datasets.
* ``mnist``: ``data_dir`` (and its subdirectory ``mnist/``) when given; then tensorflow-datasets.

The files have their original names: ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (``.idx3-ubyte`` spellings accepted),
each plain or gzipped. Option ``download`` (default False) lets tensorflow-datasets fetch the data
when it is not prepared (needs the network).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from tfrobust.data.arrays import DATASETS, Arrays, check_bool, check_labels
from tfrobust.data.idx import read_idx
from tfrobust.data.sources import Search, find_file, from_tfds
from tfrobust.errors import DataError

SYSTEM_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# role -> accepted base names (each also as .gz)
IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_FILE_LIST = ", ".join(names[0] for names in IDX_FILES.values())


def read_idx_dataset(paths: dict, num_classes: int = 10):
    """Reads the four IDX files ``paths[role]``; checks shapes, counts and label range."""
    out = {}
    for split in ("train", "test"):
        x_path, y_path = paths[f"x_{split}"], paths[f"y_{split}"]
        x, y = read_idx(x_path), read_idx(y_path)
        if x.dtype != np.uint8 or x.ndim not in (3, 4):
            raise DataError(f"{x_path}: expected uint8 images of shape (N, H, W) or (N, H, W, C), "
                            f"got {x.dtype} of shape {x.shape}")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{y_path}: expected 1-D integer labels, got {y.dtype} of shape {y.shape}")
        if len(x) != len(y):
            raise DataError(f"image/label count mismatch: {x_path} has {len(x)} images "
                            f"but {y_path} has {len(y)} labels")
        check_labels(y, num_classes, y_path)
        out[f"x_{split}"] = x[..., None] if x.ndim == 3 else x
        out[f"y_{split}"] = y.astype(np.int64)
    if out["x_train"].shape[1:] != out["x_test"].shape[1:]:
        raise DataError(f"{paths['x_train']} holds {out['x_train'].shape[1:]} images but "
                        f"{paths['x_test']} holds {out['x_test'].shape[1:]} images")
    return out


def load_idx_dataset(name: str, tfds_name: str, dirs: Sequence[str], data_dir: Optional[str],
                     download: bool, how_to_get: Sequence[str]) -> Arrays:
    """Tries each directory in ``dirs``, then tensorflow-datasets; DataError listing all places."""
    download = check_bool("download", download)
    search = Search(name)
    for directory in dirs:
        if not os.path.isdir(directory):
            search.note(directory, "no such directory")
            continue
        paths = {role: find_file(directory, names) for role, names in IDX_FILES.items()}
        missing = [IDX_FILES[role][0] for role, path in paths.items() if path is None]
        if not missing:
            return Arrays(**read_idx_dataset(paths), num_classes=10, name=name, source=directory)
        if len(missing) == len(IDX_FILES):
            search.note(directory, f"none of the IDX files ({_FILE_LIST}, plain or .gz)")
        else:
            search.note(directory, f"incomplete: missing {', '.join(missing)} (plain or .gz)")
    found = from_tfds(tfds_name, data_dir, download, search)
    if found is None:
        raise search.not_found(how_to_get)
    x_train, y_train, x_test, y_test, source = found
    return Arrays(x_train, y_train, x_test, y_test, num_classes=10, name=name, source=source)


def _with_subdirs(data_dir: Optional[str], subdirs: Sequence[str]) -> list:
    """``[data_dir, data_dir/sub, ...]`` (subdirectories only when data_dir exists); [] for None."""
    if data_dir is None:
        return []
    return [data_dir] + ([os.path.join(data_dir, s) for s in subdirs] if os.path.isdir(data_dir) else [])


def _data_dir_help() -> str:
    return (f"pass data_dir (--data_dir) naming a directory with the four IDX files {_FILE_LIST} "
            "(plain or .gz)")


_TFDS_HELP = ("go online with tensorflow-datasets installed (pip install tensorflow-datasets) and "
              "pass download=True, or prepare it there with tfds.builder(NAME).download_and_prepare()")


@DATASETS.register("fashion_mnist")
def load_fashion_mnist(data_dir: Optional[str], *, download: bool = False) -> Arrays:
    """Fashion-MNIST: 60000/10000 28x28x1 uint8 images of 10 kinds of clothing."""
    dirs = _with_subdirs(data_dir, ("fashion_mnist", "fashion-mnist")) or [SYSTEM_FASHION_MNIST_DIR]
    how = [f"apt-get install dataset-fashion-mnist (installs the IDX files in {SYSTEM_FASHION_MNIST_DIR})",
           _data_dir_help(), _TFDS_HELP.replace("NAME", "'fashion_mnist'")]
    return load_idx_dataset("fashion_mnist", "fashion_mnist", dirs, data_dir, download, how)


@DATASETS.register("mnist")
def load_mnist(data_dir: Optional[str], *, download: bool = False) -> Arrays:
    """MNIST digits: 60000/10000 28x28x1 uint8 images of handwritten digits."""
    dirs = _with_subdirs(data_dir, ("mnist",))
    how = [_data_dir_help(), _TFDS_HELP.replace("NAME", "'mnist'")]
    return load_idx_dataset("mnist", "mnist", dirs, data_dir, download, how)
