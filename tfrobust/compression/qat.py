"""tensorflow-model-optimization's quantization-aware training (8-bit weights and activations),
the baseline beside ATMC-8bit.

:func:`qat_model` turns a stage's starting weights into tfmot's ``quantize_model`` of the plain
Keras equivalent (:func:`~tfrobust.layers.plain.export_plain`); the training loop then fine-tunes
it like any model (adversarially, under the setup's objective) and checkpoints it. Its TFLite
export is a full-integer model: the converter reads the fake-quantization ranges the training
learned (:func:`tfrobust.compression.export.export` sees a QAT model and converts it as it is). tfmot's layers save into ``model.keras`` but do not load back (its ``QuantizeLayer``
restores fewer variables than it saved), so nothing reads a QAT model from disk: its size and its
export are made while it is in memory, at the end of its stage.
"""
from __future__ import annotations

from typing import Callable


def qat_model(start: list) -> Callable:
    """A setup transform: the model with weights ``start``, as tfmot's quantization-aware model."""
    def transform(model):
        import tensorflow_model_optimization as tfmot

        from tfrobust.layers.plain import export_plain

        model.set_weights(start)
        return tfmot.quantization.keras.quantize_model(export_plain(model))
    return transform
