"""The IDX file format (MNIST, Fashion-MNIST): read and write, plain or gzipped.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <number of dims>``, one big-endian
uint32 per dimension, then the data, big-endian, C order. Every fault in a file is reported as a
:class:`~tfrobust.errors.DataError` naming the file and the fault, never a NumPy or zlib traceback.
"""
from __future__ import annotations

import gzip
import math
import os
import tempfile
import zlib

import numpy as np

from tfrobust.errors import ConfigError, DataError

# IDX dtype code -> big-endian NumPy dtype.
DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _path(function: str, path) -> str:
    """``path`` as a str; ConfigError naming ``function`` when it is not a usable file path."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fsdecode(os.fspath(path))
        if path and "\0" not in path:
            return path
    raise ConfigError(f"{function}: path={path!r} is not allowed; allowed: a file path (str or os.PathLike)")


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when it is a gzip stream (detected by content, not name)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(f"{path}: truncated gzip stream (the file ends before the end-of-stream "
                        "marker; was the download cut short?)") from None
    except (OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError; CRC/length faults too
        raise DataError(f"{path}: corrupt gzip stream: {e}") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (plain or gzipped) into a native-endian, writable NumPy array.

    Raises DataError naming the file for: a bad magic number, an unknown dtype code, a truncated
    header, a data size that differs from what the header's dimensions say, a corrupt or
    truncated gzip stream, or a file that cannot be read.
    """
    path = _path("read_idx", path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: not an IDX file: {len(raw)} bytes, too short for the 4-byte magic number")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or code not in DTYPES:
        allowed = ", ".join(f"0x{c:02X}" for c in DTYPES)
        raise DataError(f"{path}: bad magic number 0x{magic:08X}: an IDX file starts with 0x00 0x00, "
                        f"a dtype code (one of {allowed}) and the number of dimensions")
    if ndim == 0:
        raise DataError(f"{path}: bad magic number 0x{magic:08X}: number of dimensions is 0")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise DataError(f"{path}: truncated header: {ndim} dimensions need {header_len} header bytes, "
                        f"file has {len(raw)}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header_len
    if actual != expected:
        dims = "x".join(map(str, shape))
        raise DataError(f"{path}: size mismatch: header says {expected} bytes of data "
                        f"({dims} of {dtype.newbyteorder('=').name}), file has {actual}")
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native-endian, writable copy


def write_idx(path: str | os.PathLike, array) -> str:
    """Writes ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``; returns the path.

    The write is atomic (temporary file, then rename) and byte-for-byte reproducible (the gzip
    header carries no timestamp). Allowed dtypes: uint8, int8, int16, int32, float32, float64.
    """
    path = _path("write_idx", path)
    array = _array(array)
    code = _CODES[array.dtype.newbyteorder("=")]
    payload = b"".join([
        bytes([0, 0, code, array.ndim]),
        b"".join(int(d).to_bytes(4, "big") for d in array.shape),
        np.ascontiguousarray(array, dtype=DTYPES[code]).tobytes(),
    ])
    if path.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    try:
        _write_atomic(path, payload)
    except OSError as e:
        raise DataError(f"{path}: cannot write: {e.strerror or e}") from None
    return path


def _array(array) -> np.ndarray:
    """``array`` as a NumPy array IDX can hold; ConfigError naming what is wrong otherwise."""
    try:
        array = np.asarray(array)
    except ValueError as e:  # ragged nested lists
        raise ConfigError(f"write_idx: array is not allowed: it is not rectangular ({e}); "
                          "allowed: an array or equal-length nested sequences") from None
    if array.dtype.newbyteorder("=") not in _CODES:
        allowed = ", ".join(d.newbyteorder("=").name for d in DTYPES.values())
        raise ConfigError(f"write_idx: array dtype {array.dtype} is not allowed; allowed: {allowed}")
    if not 1 <= array.ndim <= 255:
        raise ConfigError(f"write_idx: array has {array.ndim} dimensions; allowed: 1 to 255")
    if any(d >= 2 ** 32 for d in array.shape):
        raise ConfigError(f"write_idx: array shape {array.shape} has a dimension >= 2**32")
    return array


def _write_atomic(path: str, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=".tmp-", suffix=".idx")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
