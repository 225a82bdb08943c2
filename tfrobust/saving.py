"""Saving and loading models (``.keras`` files) with clear errors and atomic writes.

Loading is safe by default: only ``.keras`` archives load, in Keras's safe mode, which refuses
the Python bytecode a ``Lambda`` layer can carry. Keras sends any file that is not a zip archive
(an H5 file renamed ``.keras``, say) and SavedModel directories to its legacy loader, where safe
mode does not apply and a model file can run code; so the content is checked, not the name, and
anything else loads only with ``trust=True`` (``--trust_model_file`` on the command line), for
files you made."""
from __future__ import annotations

import os
import zipfile
from typing import Optional

import tf_keras as keras

import tfrobust.layers  # noqa: F401  (registers the masked layers for deserialisation)
from tfrobust.errors import DataError
from tfrobust.io import replacing

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at byte 0, 512, 1024 or 2048 of an HDF5 file
ARCHIVE_FILES = ("config.json", "metadata.json")  # what every .keras archive holds


def save_model(model: keras.Model, path: str) -> None:
    """Saves ``model`` to ``path`` (a ``.keras`` file) through a temporary file beside it and a
    rename; the temporary file is removed when saving fails."""
    if not path.endswith(".keras"):
        raise DataError(f"model path {path!r} must end in .keras")
    if os.path.isdir(path):
        raise DataError(f"model path {path!r} is a directory; give a .keras file's path")
    with replacing(path, suffix=".tmp.keras") as tmp:
        model.save(tmp)


def archive_fault(path: str) -> Optional[str]:
    """Why the file ``path`` is not a .keras archive (H5 content, unknown content, ...); None when it is one."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            return f"a damaged zip archive: {e}"
        missing = [name for name in ARCHIVE_FILES if name not in names]
        return f"a zip archive without {' and '.join(missing)}" if missing else None
    with open(path, "rb") as f:
        head = f.read(2048 + len(HDF5_SIGNATURE))
    if any(head[at:at + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for at in (0, 512, 1024, 2048)):
        return "H5 content"
    return "unknown content"


def load_model(path: str, trust: bool = False) -> keras.Model:
    """The model in ``path``; ``trust`` also loads H5 and SavedModel files and code in Lambda layers."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise DataError(f"no model file at {path!r}")
    if not trust and not (path.endswith(".keras") and os.path.isfile(path)):
        raise DataError(f"{path!r} is not a .keras file: H5 and SavedModel files load through Keras's legacy "
                        "loader, which runs code stored in the file; load only a file you made, with "
                        "--trust_model_file")
    fault = None if trust else archive_fault(path)
    if fault:  # Keras would hand it to the legacy loader, whatever its name
        raise DataError(f"cannot load a model from {path!r}: it is not a .keras archive ({fault}); Keras loads "
                        "such a file with its legacy loader, which runs code stored in the file: "
                        "--trust_model_file is for files you made")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=not trust)
    except Exception as e:  # a truncated zip, a foreign file, an unknown layer...
        raise DataError(f"cannot load a model from {path!r}: {type(e).__name__}: {e}") from None
