"""Interop with tensorflow-model-optimization (tfmot).

    pruned = tfmot_prune(model, {"hidden_1": 0.5, ...}, dataset)   # tfmot's prune_low_magnitude
                                                # with ConstantSparsity, then strip_pruning
    masked = from_plain(pruned)                 # back: masks = (kernel != 0)

``tfmot_prune`` produces a target sparsity per layer through tfmot, to compare with
:func:`~tfrobust.pruning.prune_masks`. The plain-Keras conversion (``export_plain``, ``from_plain``,
``sparsity``) lives in :mod:`tfrobust.layers.plain` and is re-exported here.
"""
from __future__ import annotations

from typing import Mapping, Optional

import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import compressible_layers
from tfrobust.layers.plain import export_plain, from_plain, sparsity

__all__ = ["export_plain", "from_plain", "sparsity", "tfmot_prune"]


def tfmot_prune(model: keras.Model, targets: Mapping[str, float], dataset=None, steps: int = 1,
                learning_rate: float = 0.0, num_classes: Optional[int] = None) -> keras.Model:
    """Prunes ``model`` (masked or plain) to ``targets`` (layer name -> sparsity) with tfmot's
    ``prune_low_magnitude`` and ``ConstantSparsity``, trains ``steps`` steps on ``dataset`` (learning
    rate 0: the masks are set by magnitude and nothing else changes), and returns the
    ``strip_pruning`` output: a plain Keras model."""
    import tensorflow_model_optimization as tfmot

    plain = export_plain(model) if compressible_layers(model) else model
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
