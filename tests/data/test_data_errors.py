"""Bad arguments and bad files at the data API (data.load, load_arrays, read_idx, write_idx): one row
per call, each raising tfrobust's own error class with a message naming the argument or file."""
import os

import numpy as np
import pytest

from tfrobust import data
from tfrobust.errors import ConfigError, DataError

SYNTH = dict(image_shape=(4, 4, 1), train_size=20, test_size=10)
U8 = np.uint8


class Env:
    """Where a row's call runs: a fresh directory, IDX datasets and raw files written into it."""

    def __init__(self, tmp_path, write_idx_dataset):
        self.tmp, self._write = tmp_path, write_idx_dataset

    def dataset(self, **override):
        return self._write(self.tmp / "ds", gz=False, **override)

    def dataset_with(self, role_file, raw):
        """A good dataset whose file ``role_file`` is replaced by the bytes ``raw``."""
        directory = self.dataset()
        with open(os.path.join(directory, role_file), "wb") as f:
            f.write(raw)
        return directory

    def file(self, raw=b"x", name="afile"):
        (self.tmp / name).write_bytes(raw)
        return str(self.tmp / name)


def _header(code, *dims):
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


ROWS = [
    # data.load / load_arrays: names and sizes
    (lambda e: data.load("imagenet"), ConfigError,
     r"unknown dataset 'imagenet'; known: cifar10, fashion_mnist, mnist, synthetic"),
    (lambda e: data.load(["synthetic"]), ConfigError,
     r"dataset name \['synthetic'\] is not allowed; allowed: one of cifar10, fashion_mnist, mnist"),
    (lambda e: data.load_arrays(None), ConfigError, r"dataset name None is not allowed"),
    (lambda e: data.options(7), ConfigError, r"dataset name 7 is not allowed"),
    (lambda e: data.load("synthetic", batch_size="8", **SYNTH), ConfigError,
     r"batch_size='8' is not allowed; allowed: an integer >= 1"),
    (lambda e: data.load("synthetic", eval_batch_size=0, **SYNTH), ConfigError, r"eval_batch_size=0 is not allowed"),
    (lambda e: data.load("synthetic", valid_size=20, **SYNTH), ConfigError,
     r"valid_size=20 is not allowed for dataset 'synthetic' with 20 training examples; "
     r"allowed: 0 <= valid_size < 20"),
    (lambda e: data.load("synthetic", valid_size=2.5, **SYNTH), ConfigError, r"valid_size=2.5 is not allowed"),
    (lambda e: data.load("synthetic", seed=2 ** 63, **SYNTH), ConfigError,
     r"seed=9223372036854775808 is not allowed; allowed: an integer in 0..9223372036854775807"),
    (lambda e: data.load("synthetic", max_test=-1, **SYNTH), ConfigError, r"max_test=-1 is not allowed"),
    (lambda e: data.load("synthetic", foo=1, **SYNTH), ConfigError, r"dataset 'synthetic' has no option 'foo'"),
    # data_dir and download
    (lambda e: data.load("mnist", data_dir=3), ConfigError,
     r"data_dir=3 is not allowed; allowed: a directory path, or None"),
    (lambda e: data.load("mnist", data_dir=""), ConfigError, r"data_dir='' is not allowed"),
    (lambda e: data.load("fashion_mnist", data_dir=e.file()), ConfigError,
     r"data_dir='.*afile' is not allowed: it is a file, not a directory"),
    (lambda e: data.load("cifar10", data_dir=e.file()), ConfigError, r"afile' is not allowed: it is a file"),
    (lambda e: data.load("mnist", data_dir=e.tmp / "none"), DataError,
     r"dataset 'mnist' not found\. Looked in:\n  - .*none: no such directory"),
    (lambda e: data.load("mnist", data_dir=e.tmp / "none", download="yes"), ConfigError,
     r"download='yes' is not allowed; allowed: True or False"),
    (lambda e: data.load("cifar10", data_dir=e.tmp, download=1), ConfigError, r"download=1 is not allowed"),
    # synthetic options
    (lambda e: data.load_arrays("synthetic", image_shape=(4, 4, 1.0)), ConfigError,
     r"image_shape=\(4, 4, 1\.0\) is not allowed; allowed: \(height, width, channels\)"),
    (lambda e: data.load_arrays("synthetic", image_shape=(10 ** 5,) * 3), ConfigError,
     r"image_shape=\(100000, 100000, 100000\) with num_classes=10, train_size=1000, test_size=200 "
     r"needs .* GiB, more than this machine can allocate"),
    (lambda e: data.load_arrays("synthetic", num_classes="10"), ConfigError, r"num_classes='10' is not allowed"),
    (lambda e: data.load_arrays("synthetic", noise_std=float("nan")), ConfigError,
     r"noise_std=nan is not allowed; allowed: a finite number >= 0"),
    # MNIST-style IDX datasets with bad contents
    (lambda e: data.load("mnist", data_dir=e.dataset(y_train=np.zeros(59, U8))), DataError,
     r"image/label count mismatch: .*train-images-idx3-ubyte has 60 images but .*has 59 labels"),
    (lambda e: data.load("mnist", data_dir=e.dataset(x_train=np.zeros((0, 28, 28), U8), y_train=np.zeros(0, U8))),
     DataError, r"ds: train images of shape \(0, 28, 28, 1\) are empty"),
    (lambda e: data.load("mnist", data_dir=e.dataset(x_train=np.zeros((60, 0, 28), U8),
                                                     x_test=np.zeros((20, 0, 28), U8))),
     DataError, r"ds: train images of shape \(60, 0, 28, 1\) are empty"),
    (lambda e: data.load("mnist", data_dir=e.dataset(y_train=np.zeros(60, np.float32))), DataError,
     r"train-labels-idx1-ubyte: expected 1-D integer labels, got float32"),
    (lambda e: data.load("mnist", data_dir=e.dataset(y_test=np.full(20, 11, U8))), DataError,
     r"t10k-labels-idx1-ubyte: label 11 at index 0 is outside 0\.\.9"),
    (lambda e: data.load("mnist", data_dir=e.dataset_with("train-images-idx3-ubyte", b"\x01\x02\x08\x03" + bytes(20))),
     DataError, r"train-images-idx3-ubyte: bad magic number 0x01020803"),
    (lambda e: data.load("mnist", data_dir=e.dataset_with("t10k-labels-idx1-ubyte", _header(8, 20)[:6])),
     DataError, r"t10k-labels-idx1-ubyte: truncated header: 1 dimensions need 8 header bytes, file has 6"),
    # read_idx
    (lambda e: data.read_idx(None), ConfigError,
     r"read_idx: path=None is not allowed; allowed: a file path \(str or os\.PathLike\)"),
    (lambda e: data.read_idx("a\0b"), ConfigError, r"read_idx: path='a\\x00b' is not allowed"),
    (lambda e: data.read_idx(e.tmp), DataError, r"cannot read: Is a directory"),
    (lambda e: data.read_idx(e.file(_header(8, 2 ** 32 - 1, 2 ** 32 - 1))), DataError,
     r"afile: size mismatch: header says 18446744065119617025 bytes of data \(4294967295x4294967295 of uint8\), "
     r"file has 0"),
    # write_idx
    (lambda e: data.write_idx(3, np.zeros(3, U8)), ConfigError, r"write_idx: path=3 is not allowed"),
    (lambda e: data.write_idx(e.tmp / "nodir" / "x", np.zeros(3, U8)), DataError,
     r"nodir/x: cannot write: No such file or directory"),
    (lambda e: data.write_idx(e.tmp, np.zeros(3, U8)), DataError, r"cannot write: Is a directory"),
    (lambda e: data.write_idx(os.path.join(e.file(), "x"), np.zeros(3, U8)), DataError,
     r"afile/x: cannot write: Not a directory"),
    (lambda e: data.write_idx(e.tmp / "r", [[1, 2], [3]]), ConfigError,
     r"write_idx: array is not allowed: it is not rectangular"),
    (lambda e: data.write_idx(e.tmp / "b", np.zeros(3, bool)), ConfigError,
     r"write_idx: array dtype bool is not allowed; allowed: uint8, int8, int16, int32, float32, float64"),
]


@pytest.mark.parametrize("call,error,message", ROWS, ids=[f"row{i}" for i in range(len(ROWS))])
def test_bad_data_call_raises_tfrobust_error(tmp_path, write_idx_dataset, call, error, message):
    with pytest.raises(error, match=message) as info:
        call(Env(tmp_path, write_idx_dataset))
    assert type(info.value) is error  # not a subclass, not a foreign error that happens to match


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    (tmp_path / "target").mkdir()
    with pytest.raises(DataError):
        data.write_idx(tmp_path / "target", np.zeros(3, U8))
    assert sorted(os.listdir(tmp_path)) == ["target"] and os.listdir(tmp_path / "target") == []


def test_accepted_spellings_still_load(tmp_path, write_idx_dataset):
    """What the checks let through: bytes and PathLike paths, numpy booleans for download."""
    directory = write_idx_dataset(tmp_path / "fm")
    splits = data.load("fashion_mnist", data_dir=os.fsencode(directory), download=np.bool_(False), batch_size=30)
    assert (splits.train_size, splits.test_size, splits.source) == (60, 20, directory)
    path = data.write_idx(os.fsencode(str(tmp_path / "a.gz")), np.arange(6, dtype=U8))
    assert path == str(tmp_path / "a.gz")
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a.gz"), np.arange(6))
