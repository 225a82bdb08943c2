"""IDX files: round trips of every dtype, and every kind of corrupt file rejected by name."""
import gzip
import os

import numpy as np
import pytest

from tfrobust import data
from tfrobust.errors import ConfigError, DataError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,shape", [
    (np.uint8, (5, 4, 3)),
    (np.int8, (7,)),
    (np.int16, (2, 3)),
    (np.int32, (3, 1, 2, 2)),
    (np.float32, (4, 5)),
    (np.float64, (2, 2, 2)),
    (np.uint8, (0, 28, 28)),
])
def test_round_trip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = str(tmp_path / ("a.idx" + (".gz" if gz else "")))
    assert data.write_idx(path, array) == path
    back = data.read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    with open(path, "rb") as f:
        head = f.read(4)
    assert head[:2] == (b"\x1f\x8b" if gz else b"\x00\x00")


def test_header_layout_is_big_endian(tmp_path):
    path = tmp_path / "a"
    data.write_idx(path, np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int16))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0B, 2])
    assert raw[4:12] == (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    assert raw[12:14] == (1).to_bytes(2, "big")
    assert len(raw) == 12 + 6 * 2


def test_gz_detected_by_content_and_reproducible(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    data.write_idx(tmp_path / "a.gz", array)
    data.write_idx(tmp_path / "b.gz", array)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()  # no timestamp
    os.rename(tmp_path / "a.gz", tmp_path / "renamed")
    np.testing.assert_array_equal(data.read_idx(tmp_path / "renamed"), array)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ConfigError, match="int64.*allowed: uint8"):
        data.write_idx(tmp_path / "a", np.zeros(3, np.int64))
    assert not list(tmp_path.iterdir())  # nothing half-written


def _good_bytes():
    return bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))


@pytest.mark.parametrize("raw,message", [
    (b"\x01\x02\x08\x01" + bytes(8), r"bad magic number 0x01020801"),
    (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"x", r"bad magic number 0x00000701"),
    (b"\x00\x00\x08\x00", r"bad magic number 0x00000800.*dimensions is 0"),
    (b"\x00\x00", r"too short"),
    (b"\x00\x00\x08\x03" + bytes(5), r"truncated header: 3 dimensions need 16 header bytes, file has 9"),
    (_good_bytes()[:-2], r"size mismatch: header says 6 bytes of data \(2x3 of uint8\), file has 4"),
    (_good_bytes() + b"\x00", r"size mismatch: header says 6 bytes of data .*file has 7"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_files_rejected(tmp_path, raw, message, gz):
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataError, match=message) as info:
        data.read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "t.gz"
    data.write_idx(path, np.random.default_rng(0).integers(0, 255, (50, 28, 28), dtype=np.uint8))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match=r"t\.gz: truncated gzip stream"):
        data.read_idx(path)


def test_corrupt_gzip_stream(tmp_path):
    path = tmp_path / "c.gz"
    data.write_idx(path, np.arange(1000, dtype=np.int32))
    raw = bytearray(path.read_bytes())
    raw[-8] ^= 0xFF  # break the CRC
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"c\.gz: corrupt gzip stream"):
        data.read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope: cannot read"):
        data.read_idx(tmp_path / "nope")
