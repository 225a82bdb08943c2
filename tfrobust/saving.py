"""Saving and loading models (``.keras`` files) with clear errors and atomic writes."""
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


def load_model(path: str) -> keras.Model:
    if not os.path.exists(path):
        raise DataError(f"no model file at {path!r}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # a truncated zip, a foreign file, an unknown layer...
        raise DataError(f"cannot load a model from {path!r}: {type(e).__name__}: {e}") from None
