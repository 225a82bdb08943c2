"""cifar10 from small python-version pickles written by the test."""
import os
import pickle
import tarfile

import numpy as np
import pytest

from tfrobust import data
from tfrobust.errors import DataError

FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _batch(index, n=4):
    """A pickle dict like the originals: rows are R (1024), G (1024), B (1024) planes."""
    rng = np.random.default_rng(index)
    return {b"batch_label": f"batch {index}".encode(),
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, size=n)],
            b"filenames": [b"x.png"] * n}


def _write(directory, batches=None, protocol=2):
    os.makedirs(directory, exist_ok=True)
    batches = batches or {name: _batch(i) for i, name in enumerate(FILES)}
    for name, batch in batches.items():
        with open(os.path.join(directory, name), "wb") as f:
            pickle.dump(batch, f, protocol=protocol)
    return batches


@pytest.mark.parametrize("layout", ["flat", "subdir", "archive"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_loads_and_converts_to_nhwc(tmp_path, layout, protocol):
    where = tmp_path / "src" if layout == "archive" else (
        tmp_path / "cifar-10-batches-py" if layout == "subdir" else tmp_path)
    batches = _write(where, protocol=protocol)
    if layout == "archive":
        with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
            tar.add(where, arcname="cifar-10-batches-py")
    arrays = data.load_arrays("cifar10", data_dir=tmp_path)
    assert arrays.x_train.shape == (20, 32, 32, 3) and arrays.x_train.dtype == np.uint8
    assert arrays.x_test.shape == (4, 32, 32, 3)
    assert arrays.num_classes == 10 and arrays.y_train.dtype == np.int64
    expected_y = np.concatenate([batches[f][b"labels"] for f in FILES[:5]])
    np.testing.assert_array_equal(arrays.y_train, expected_y)
    # Pixel (row r, column c, channel k) of image i is data[i, k*1024 + r*32 + c].
    row = batches["data_batch_2"][b"data"][1]
    image = arrays.x_train[4 + 1]
    for r, c, k in [(0, 0, 0), (0, 1, 0), (1, 0, 1), (31, 30, 2), (5, 17, 1)]:
        assert image[r, c, k] == row[k * 1024 + r * 32 + c]
    np.testing.assert_array_equal(arrays.x_test[3].transpose(2, 0, 1).reshape(-1),
                                  batches["test_batch"][b"data"][3])
    splits = data.load("cifar10", data_dir=tmp_path, batch_size=8, valid_size=4)
    assert splits.input_shape == (32, 32, 3) and (splits.train_size, splits.valid_size) == (16, 4)


def test_missing_files_listed(tmp_path):
    _write(tmp_path, {name: _batch(0) for name in FILES[:3]})
    with pytest.raises(DataError) as info:
        data.load_arrays("cifar10", data_dir=tmp_path)
    message = str(info.value)
    assert f"{tmp_path}: incomplete: missing data_batch_4, data_batch_5, test_batch" in message
    assert f"{tmp_path / 'cifar-10-batches-py'}: no such directory" in message
    assert f"{tmp_path / 'cifar-10-python.tar.gz'}: no such file" in message
    assert "tensorflow-datasets 'cifar10'" in message and "data_dir" in message


def test_bad_labels_and_counts(tmp_path):
    batches = {name: _batch(i) for i, name in enumerate(FILES)}
    batches["data_batch_3"][b"labels"][2] = 10
    _write(tmp_path, batches)
    with pytest.raises(DataError, match=r"data_batch_3: label 10 at index 2 is outside 0..9"):
        data.load_arrays("cifar10", data_dir=tmp_path)
    batches["data_batch_3"][b"labels"] = [0, 1, 2]
    _write(tmp_path, batches)
    with pytest.raises(DataError, match=r"count mismatch: .*data_batch_3 has 4 images but 3 labels"):
        data.load_arrays("cifar10", data_dir=tmp_path)
    batches["data_batch_3"][b"data"] = np.zeros((4, 1024), np.uint8)
    _write(tmp_path, batches)
    with pytest.raises(DataError, match=r"data_batch_3: b'data' must be an \(N, 3072\) uint8 array"):
        data.load_arrays("cifar10", data_dir=tmp_path)


def test_corrupt_and_hostile_pickles(tmp_path):
    _write(tmp_path)
    path = tmp_path / "test_batch"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 python pickle"):
        data.load_arrays("cifar10", data_dir=tmp_path)
    path.write_bytes(pickle.dumps(os.system))  # would import a callable: refused, not run
    with pytest.raises(DataError, match=r"test_batch: not a CIFAR-10 python pickle.*refusing to load"):
        data.load_arrays("cifar10", data_dir=tmp_path)


def test_truncated_archive(tmp_path):
    _write(tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="cifar-10-batches-py")
    archive.write_bytes(archive.read_bytes()[:-200])
    with pytest.raises(DataError, match=r"cifar-10-python.tar.gz: corrupt or truncated archive"):
        data.load_arrays("cifar10", data_dir=tmp_path)
