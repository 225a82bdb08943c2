"""Atomic writes: a file is either its old self or its new self, never torn; and the one check
of a path read from a record (:func:`path_inside`)."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator

from tfrobust.errors import DataError


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode())


@contextlib.contextmanager
def replacing(path: str, suffix: str = ".tmp") -> Iterator[str]:
    """A new temporary file beside ``path`` (its name ends in ``suffix``) for the block to write;
    renamed onto ``path`` when the block ends, removed when it fails."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=suffix)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str, data: bytes) -> None:
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def path_inside(owner_dir: str, path: str, record: str) -> str:
    """``owner_dir/path``, where ``path`` was read from the record file ``record``, which
    ``owner_dir`` owns: a DataError naming both when it resolves (links followed) outside
    ``owner_dir``, so that a record cannot steer reads or writes elsewhere (an absolute path, ``..``)."""
    if not isinstance(path, str) or not path:
        raise DataError(f"{record} names the path {path!r}: a record's path must be a non-empty string")
    owner = os.path.realpath(owner_dir)
    resolved = os.path.realpath(os.path.join(owner_dir, path))
    if os.path.commonpath([owner, resolved]) != owner:
        raise DataError(f"{record} names the path {path!r}, which lies outside {owner_dir}: a record may only "
                        "name paths inside its own directory; the record is damaged or was not written by tfrobust")
    return os.path.join(owner_dir, path)


def write_json_atomic(path: str, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_arrays_atomic(path: str, arrays) -> None:
    """A list of NumPy arrays as an ``.npz`` file (keys ``a0000``, ``a0001``, ...), atomically."""
    import io

    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i:04d}": a for i, a in enumerate(arrays)})
    write_bytes_atomic(path, buffer.getvalue())


def load_arrays(path: str):
    """The list :func:`save_arrays_atomic` wrote."""
    import numpy as np

    with np.load(path) as f:
        return [f[k] for k in sorted(f.files)]
