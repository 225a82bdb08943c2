"""tensorflow-model-optimization's quantization-aware training (8-bit weights and activations),
the baseline beside ATMC-8bit.

:func:`qat_model` turns a stage's starting weights into tfmot's ``quantize_model`` of the plain
Keras equivalent (:func:`~tfrobust.layers.plain.export_plain`); the training loop then fine-tunes
it like any model (adversarially, under the setup's objective) and checkpoints it. Its TFLite
export (:func:`export_qat`) is a full-integer model: the converter reads the fake-quantization
ranges the training learned. tfmot's layers save into ``model.keras`` but do not load back (its
``QuantizeLayer`` restores fewer variables than it saved), so nothing reads a QAT model from disk:
its results and its export are made while it is in memory.
"""
from __future__ import annotations

import gzip
import os
from typing import Callable, Dict, Optional

import numpy as np


def qat_model(start: list) -> Callable:
    """A setup transform: the model with weights ``start``, as tfmot's quantization-aware model."""
    def transform(model):
        import tensorflow_model_optimization as tfmot

        from tfrobust.layers.plain import export_plain

        model.set_weights(start)
        return tfmot.quantization.keras.quantize_model(export_plain(model))
    return transform


def is_qat(model) -> bool:
    """Whether ``model`` holds tfmot quantization wrappers."""
    return any(type(layer).__name__.startswith("Quantize") for layer in model.layers)


def export_qat(model, path: str, check_inputs: Optional[np.ndarray] = None) -> Dict:
    """Writes the int8 TFLite file of a QAT model to ``path``; the record of
    :func:`tfrobust.compression.export.export` (bytes, gzip bytes, agreement on ``check_inputs``)."""
    import tensorflow as tf

    from tfrobust.compression.export import tflite_outputs
    from tfrobust.io import write_bytes_atomic

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    data = converter.convert()
    write_bytes_atomic(path, data)
    record = {"path": path, "bytes": os.path.getsize(path), "gzip_bytes": len(gzip.compress(data, 9)),
              "weights": "int8 (tfmot quantization-aware)"}
    if check_inputs is not None:
        ours, theirs = model(check_inputs, training=False).numpy(), tflite_outputs(data, check_inputs)
        record["max_abs_diff"] = float(np.max(np.abs(ours - theirs)))
        record["agreement"] = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
    return record
