"""The compressible-layer protocol, and the model-level helpers that read only it.

A compressible layer (masked, quantized, factorized, ...) subclasses :class:`Compressible` and says:

- ``effective_weights()``: name -> tensor, the weights its forward pass uses (``kernel * mask``, a
  dequantized kernel, a product of factors, and the bias), differentiable in the layer's variables;
- ``prunable()``: its prunable variables, each a :class:`Prunable` record (a unique name, the
  variable, a 0/1 mask variable of the same shape). The layer keeps the variable at zero wherever
  the mask is 0. A layer with no masks returns ``[]``;
- ``size_bits()``: the bits needed to store what the forward pass needs (each layer documents what
  it counts);
- optionally ``plain_layer()`` / ``plain_weights()`` / ``set_plain_weights()``: the plain Keras
  layer it is equivalent to, and its weights in that layer's ``get_weights`` order (for export).

Pruning, the L1 term, weight counts, size accounting and plain-Keras export read layers only
through this protocol (never ``.kernel`` or ``.mask``), so a new layer type needs nothing else.
Mask names are unique in a model; a layer with one prunable variable names it after the layer, so
that masks keyed by layer name keep working.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Prunable:
    """One prunable variable of a compressible layer and its mask."""

    name: str  # the mask's name: the key in get_masks / set_masks / prune_masks / count_weights
    variable: tf.Variable
    mask: tf.Variable  # 0/1 entries, the variable's shape

    def masked(self) -> tf.Tensor:
        """``variable * mask`` (a tensor, differentiable in ``variable``)."""
        return self.variable * tf.cast(self.mask, self.variable.dtype)

    def assign(self, mask) -> None:
        """Sets the mask (0/1 entries, the variable's shape) and zeroes the variable where it is 0."""
        mask = np.asarray(mask, dtype=np.float32)
        shape = tuple(self.variable.shape)
        if mask.shape != shape:
            raise ConfigError(f"mask for {self.name!r} has shape {mask.shape}; "
                              f"its variable {self.variable.name} has shape {shape}")
        if not np.all((mask == 0) | (mask == 1)):
            raise ConfigError(f"mask for {self.name!r} must hold only 0 and 1")
        self.mask.assign(mask.astype(self.mask.dtype.as_numpy_dtype))
        self.variable.assign(self.variable * mask.astype(self.variable.dtype.as_numpy_dtype))


class Compressible:
    """Base of compressible Keras layers; see the module docstring for the meaning of each method.

    ``effective_weights``, ``prunable`` and ``size_bits`` are the protocol: every subclass defines
    them (a plain mixin, not ``abc``: Keras layers have their own metaclass), and calling one a
    subclass left out names the class."""

    def effective_weights(self) -> Dict[str, tf.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not define effective_weights()")

    def prunable(self) -> List[Prunable]:
        raise NotImplementedError(f"{type(self).__name__} does not define prunable()")

    def size_bits(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define size_bits()")

    def _no_plain(self):
        return ConfigError(f"layer {self.name!r} ({type(self).__name__}) has no plain Keras equivalent")

    def plain_layer(self) -> keras.layers.Layer:
        """A new, unbuilt plain Keras layer that computes what this one computes."""
        raise self._no_plain()

    def plain_weights(self) -> List[np.ndarray]:
        """The weights of :meth:`plain_layer`, in its ``get_weights`` order."""
        raise self._no_plain()

    def set_plain_weights(self, weights: List[np.ndarray]) -> None:
        """Inverse of :meth:`plain_weights`: takes a plain layer's weights (masks from the zeros)."""
        raise self._no_plain()


def compressible_layers(model: keras.layers.Layer) -> List[Compressible]:
    """The compressible layers of ``model`` (itself, nested models and layers), in tracking order."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, Compressible)]


def prunable_variables(model: keras.layers.Layer) -> List[Prunable]:
    """Every :class:`Prunable` of ``model``, layer by layer; fails if two share a name."""
    out = [p for layer in compressible_layers(model) for p in layer.prunable()]
    names = [p.name for p in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"model {model.name!r} has several masks named {', '.join(map(repr, repeated))}")
    return out


def model_size_bits(model: keras.layers.Layer) -> int:
    """Bits to store ``model``: each compressible layer's :meth:`~Compressible.size_bits`, plus 32
    bits per entry of every other weight of the model (batch-norm scales and statistics, plain
    layers). Not counted: the layers' configurations, optimizer state."""
    layers = compressible_layers(model)
    owned = {id(v) for layer in layers for v in layer.weights}
    others = sum(int(np.prod(v.shape)) for v in model.weights if id(v) not in owned)
    return sum(int(layer.size_bits()) for layer in layers) + 32 * others


def l1_penalty(model: keras.layers.Layer) -> tf.Tensor:
    """The float32 scalar sum of ``|variable * mask|`` over every prunable variable of ``model``
    (0.0 if it has none). Differentiable; works in ``tf.function`` and in a replica context."""
    terms = [tf.reduce_sum(tf.abs(tf.cast(p.masked(), tf.float32))) for p in prunable_variables(model)]
    return tf.add_n(terms) if terms else tf.constant(0.0, tf.float32)
