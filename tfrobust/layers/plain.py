"""Conversion between compressible models and plain Keras models.

    plain = export_plain(model)      # every compressible layer replaced by its plain equivalent
                                     # (masked layers: Dense/Conv2D with kernel * mask)
    masked = from_plain(plain)       # Dense/Conv2D -> MaskedDense/MaskedConv2D, masks = (kernel != 0)
    sparsity(plain) == sparsity(model)

``export_plain`` gives a model any Keras tool can load without tfrobust; it asks each compressible
layer for its ``plain_layer()`` and ``plain_weights()``. ``from_plain`` also converts the output of
tensorflow-model-optimization's ``strip_pruning``.
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import Compressible
from tfrobust.layers.masked import MaskedConv2D, MaskedDense

_TO_MASKED = {keras.layers.Dense: MaskedDense, keras.layers.Conv2D: MaskedConv2D}


def _convert(model: keras.Model, clone: Callable, copy: Callable) -> keras.Model:
    """Clones ``model`` with ``clone(layer) -> new layer or None`` (None: the same type, same
    config), then calls ``copy(old layer, new layer)`` for the layers ``clone`` replaced and copies
    the weights of the others."""
    if not getattr(model, "_is_graph_network", False):
        raise ConfigError(f"{model.name!r} is not a functional or sequential Keras model; cannot convert it")
    replaced = set()

    def clone_layer(layer):
        new = clone(layer)
        if new is None:
            return layer.__class__.from_config(layer.get_config())
        replaced.add(id(layer))
        return new

    new = keras.models.clone_model(model, clone_function=clone_layer)
    for old_layer, new_layer in zip(model.layers, new.layers):
        if id(old_layer) in replaced:
            copy(old_layer, new_layer)
        else:
            new_layer.set_weights(old_layer.get_weights())
    return new


def export_plain(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with every compressible layer replaced by its plain Keras equivalent
    (masked layers: ``Dense``/``Conv2D`` whose kernels are kernel * mask)."""
    return _convert(
        model,
        lambda layer: layer.plain_layer() if isinstance(layer, Compressible) else None,
        lambda old, new: new.set_weights(old.plain_weights()),
    )


def from_plain(model: keras.Model) -> keras.Model:
    """A copy of a plain model with masked layers whose masks mark the nonzero kernel entries."""
    def clone(layer):
        target = _TO_MASKED.get(type(layer))
        return None if target is None else target.from_config(layer.get_config())

    return _convert(model, clone, lambda old, new: new.set_plain_weights(old.get_weights()))


def sparsity(model: keras.Model) -> Dict[str, float]:
    """Fraction of zero entries of every masked variable (``variable * mask``, keyed by mask name) and
    of the kernel of every plain ``Dense``/``Conv2D`` layer (keyed by layer name)."""
    out = {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, Compressible):
            for p in layer.prunable():
                out[p.name] = float(np.mean(p.masked().numpy() == 0))
        elif isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            out[layer.name] = float(np.mean(layer.kernel.numpy() == 0))
    return out
