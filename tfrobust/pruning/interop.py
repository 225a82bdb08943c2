"""Interop with plain Keras and tensorflow-model-optimization (tfmot).

    plain = export_plain(model)                 # Dense/Conv2D layers, masks folded into the kernels
    masked = from_plain(plain)                  # back: masks = (kernel != 0)
    pruned = tfmot_prune(model, {"hidden_1": 0.5, ...}, dataset)   # tfmot's prune_low_magnitude
                                                # with ConstantSparsity, then strip_pruning

``export_plain`` gives a model any Keras tool can load without tfrobust. ``tfmot_prune`` produces a
target sparsity per layer through tfmot, to compare with :func:`~tfrobust.pruning.prune_masks`; its
result (tfmot's ``strip_pruning`` output) converts back with ``from_plain``.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import numpy as np
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers import MaskedConv2D, MaskedDense, masked_layers

_TO_PLAIN = {MaskedDense: keras.layers.Dense, MaskedConv2D: keras.layers.Conv2D}
_TO_MASKED = {keras.layers.Dense: MaskedDense, keras.layers.Conv2D: MaskedConv2D}


def _convert(model: keras.Model, table, kernel_of) -> keras.Model:
    """Clones ``model`` replacing layers by type (``table``), then copies weights; ``kernel_of(old
    layer)`` gives the kernel a converted layer receives."""
    def clone(layer):
        config = layer.get_config()
        target = table.get(type(layer))
        if target is None:
            return layer.__class__.from_config(config)
        config.pop("mask", None)
        return target.from_config(config)

    if not getattr(model, "_is_graph_network", False):
        raise ConfigError(f"{model.name!r} is not a functional or sequential Keras model; cannot convert it")
    new = keras.models.clone_model(model, clone_function=clone)
    for old_layer, new_layer in zip(model.layers, new.layers):
        if type(old_layer) in table:
            new_layer.kernel.assign(kernel_of(old_layer))
            if old_layer.use_bias:
                new_layer.bias.assign(old_layer.bias)
            if table is _TO_MASKED:
                new_layer.set_mask((new_layer.kernel.numpy() != 0).astype(np.float32))
        else:
            new_layer.set_weights(old_layer.get_weights())
    return new


def export_plain(model: keras.Model) -> keras.Model:
    """A copy of ``model`` with plain ``Dense``/``Conv2D`` layers whose kernels are kernel * mask."""
    return _convert(model, _TO_PLAIN, lambda layer: layer.kernel.numpy() * layer.mask.numpy())


def from_plain(model: keras.Model) -> keras.Model:
    """A copy of a plain model with masked layers whose masks mark the nonzero kernel entries."""
    return _convert(model, _TO_MASKED, lambda layer: layer.kernel.numpy())


def sparsity(model: keras.Model) -> Dict[str, float]:
    """Fraction of zero kernel entries of every Dense/Conv2D (masked or not) layer."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            kernel = layer.kernel.numpy()
            if hasattr(layer, "mask"):
                kernel = kernel * layer.mask.numpy()
            out[layer.name] = float(np.mean(kernel == 0))
    return out


def tfmot_prune(model: keras.Model, targets: Mapping[str, float], dataset=None, steps: int = 1,
                learning_rate: float = 0.0, num_classes: Optional[int] = None) -> keras.Model:
    """Prunes ``model`` (masked or plain) to ``targets`` (layer name -> sparsity) with tfmot's
    ``prune_low_magnitude`` and ``ConstantSparsity``, trains ``steps`` steps on ``dataset`` (learning
    rate 0: the masks are set by magnitude and nothing else changes), and returns the
    ``strip_pruning`` output: a plain Keras model."""
    import tensorflow_model_optimization as tfmot

    plain = export_plain(model) if masked_layers(model) else model
    names = {layer.name for layer in plain.layers}
    unknown = sorted(set(targets) - names)
    if unknown:
        raise ConfigError(f"no layer named {', '.join(map(repr, unknown))} to prune with tfmot")
    for name, s in targets.items():
        if not 0.0 <= s < 1.0:
            raise ConfigError(f"target sparsity {s!r} of {name} must be in [0, 1)")
    if dataset is None:
        raise ConfigError("tfmot_prune needs a dataset: tfmot sets its masks during a training step")

    def wrap(layer):
        if layer.name in targets:
            schedule = tfmot.sparsity.keras.ConstantSparsity(targets[layer.name], begin_step=0, frequency=1)
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer.__class__.from_config(layer.get_config())

    wrapped = keras.models.clone_model(plain, clone_function=wrap)
    for old, new in zip(plain.layers, wrapped.layers):
        target = new.layer if hasattr(new, "pruning_vars") else new
        target.set_weights(old.get_weights())
    wrapped.compile(keras.optimizers.SGD(learning_rate),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    wrapped.fit(dataset.repeat(), steps_per_epoch=steps, epochs=1, verbose=0,
                callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return tfmot.sparsity.keras.strip_pruning(wrapped)
