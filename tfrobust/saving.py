"""Saving and loading models (``.keras`` files) with clear errors and atomic writes.

Loading is safe by default: only ``.keras`` files load, in Keras's safe mode, which refuses the
Python bytecode a ``Lambda`` layer can carry. H5 files and SavedModel directories go through
Keras's legacy loader, where safe mode does not apply and a model file can run code; they load
only with ``trust=True`` (``--trust_model_file`` on the command line), for files you made."""
from __future__ import annotations

import os

import tf_keras as keras

import tfrobust.layers  # noqa: F401  (registers the masked layers for deserialisation)
from tfrobust.errors import DataError


def save_model(model: keras.Model, path: str) -> None:
    """Saves ``model`` to ``path`` (a ``.keras`` file) through a temporary file and a rename."""
    if not path.endswith(".keras"):
        raise DataError(f"model path {path!r} must end in .keras")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path[: -len(".keras")] + ".tmp.keras"
    model.save(tmp)
    os.replace(tmp, path)


def load_model(path: str, trust: bool = False) -> keras.Model:
    """The model in ``path``; ``trust`` also loads H5 and SavedModel files and code in Lambda layers."""
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise DataError(f"no model file at {path!r}")
    if not trust and not (path.endswith(".keras") and os.path.isfile(path)):
        raise DataError(f"{path!r} is not a .keras file: H5 and SavedModel files load through Keras's legacy "
                        "loader, which runs code stored in the file; load only a file you made, with "
                        "--trust_model_file")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=not trust)
    except Exception as e:  # a truncated zip, a foreign file, an unknown layer...
        raise DataError(f"cannot load a model from {path!r}: {type(e).__name__}: {e}") from None
