"""Atomic writes: a file is either its old self or its new self, never torn."""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def write_text_atomic(path: str, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


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
