"""CIFAR-10 from the original "python version" files, else tensorflow-datasets.

Where it looks, in order: ``data_dir`` and ``data_dir/cifar-10-batches-py/`` for the six pickles
``data_batch_1`` .. ``data_batch_5`` and ``test_batch``; the unopened archive
``data_dir/cifar-10-python.tar.gz``; then tensorflow-datasets (option ``download``, default False).
Each pickle is a dict with ``b'data'``, an (N, 3072) uint8 array whose rows are channel-first
(1024 red, 1024 green, 1024 blue values, each 32x32 row-major), and ``b'labels'``, N ints in 0..9.
The pickles are read with an unpickler that only rebuilds NumPy arrays, so a tampered file cannot
run code.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
import zlib
from typing import Callable, Optional

import numpy as np

from tfrobust.data.arrays import DATASETS, Arrays, check_bool, check_labels
from tfrobust.data.sources import Search, from_tfds
from tfrobust.errors import DataError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
SUBDIR = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"

# What a CIFAR-10 pickle may reference: NumPy array reconstruction (NumPy 1 and 2 spellings).
_ALLOWED_GLOBALS = {
    ("_codecs", "encode"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(raw: bytes, where: str):
    """``(images NHWC uint8, labels int64)`` from the bytes of one CIFAR-10 pickle."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 - any unpickling fault is a corrupt file
        raise DataError(f"{where}: not a CIFAR-10 python pickle: {type(e).__name__}: {e}") from None
    if not isinstance(batch, dict):
        raise DataError(f"{where}: expected a dict with b'data' and b'labels', got {type(batch).__name__}")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{where}: missing key b'data' or b'labels' (has {sorted(batch)})")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"{where}: b'data' must be an (N, 3072) uint8 array, got "
                        f"{type(data).__name__} {getattr(data, 'dtype', '')} of shape {shape}")
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: b'labels' are not integers: {e}") from None
    if labels.shape != (len(data),):
        raise DataError(f"image/label count mismatch: {where} has {len(data)} images "
                        f"but {labels.size} labels")
    check_labels(labels, 10, where)
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels


def _assemble(read: Callable[[str], bytes], where: Callable[[str], str], source: str) -> Arrays:
    parts = [read_batch(read(f), where(f)) for f in TRAIN_FILES]
    x_test, y_test = read_batch(read(TEST_FILE), where(TEST_FILE))
    return Arrays(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                  x_test, y_test, num_classes=10, name="cifar10", source=source)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None


def _from_archive(path: str) -> Arrays:
    try:
        with tarfile.open(path, "r:*") as tar:
            members = {os.path.basename(m.name): m for m in tar.getmembers() if m.isfile()}
            missing = [f for f in TRAIN_FILES + (TEST_FILE,) if f not in members]
            if missing:
                raise DataError(f"{path}: archive lacks {', '.join(missing)}")
            return _assemble(lambda f: tar.extractfile(members[f]).read(),
                             lambda f: f"{path}:{members[f].name}", path)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{path}: corrupt or truncated archive: {type(e).__name__}: {e}") from None


@DATASETS.register("cifar10")
def load_cifar10(data_dir: Optional[str], *, download: bool = False) -> Arrays:
    """CIFAR-10: 50000/10000 32x32x3 uint8 colour images of 10 classes."""
    download = check_bool("download", download)
    search = Search("cifar10")
    if data_dir is not None:
        dirs = [data_dir, os.path.join(data_dir, SUBDIR)] if os.path.isdir(data_dir) else [data_dir]
        for directory in dirs:
            if not os.path.isdir(directory):
                search.note(directory, "no such directory")
                continue
            present = [f for f in TRAIN_FILES + (TEST_FILE,) if os.path.isfile(os.path.join(directory, f))]
            if len(present) == 6:
                return _assemble(lambda f: _read_file(os.path.join(directory, f)),
                                 lambda f: os.path.join(directory, f), directory)
            missing = sorted(set(TRAIN_FILES + (TEST_FILE,)) - set(present))
            search.note(directory, "none of data_batch_1..5, test_batch" if not present
                        else f"incomplete: missing {', '.join(missing)}")
        archive = os.path.join(data_dir, ARCHIVE)
        if os.path.isfile(archive):
            return _from_archive(archive)
        if os.path.isdir(data_dir):
            search.note(archive, "no such file")
    found = from_tfds("cifar10", data_dir, download, search)
    if found is None:
        raise search.not_found([
            f"pass data_dir (--data_dir) naming a directory with the python-version files "
            f"{', '.join(TRAIN_FILES)}, {TEST_FILE} (directly, in {SUBDIR}/, or as {ARCHIVE})",
            "go online with tensorflow-datasets installed (pip install tensorflow-datasets) and pass "
            "download=True, or prepare it there with tfds.builder('cifar10').download_and_prepare()",
        ])
    x_train, y_train, x_test, y_test, source = found
    return Arrays(x_train, y_train, x_test, y_test, num_classes=10, name="cifar10", source=source)
