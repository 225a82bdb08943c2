"""tensorflow-model-optimization's quantization-aware training, the baseline beside ATMC-b-bit:
weights at ``bits`` (2 to 8; tfmot's default scheme at 8, its n-bit scheme below), activations at 8.

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

from tfrobust.errors import ConfigError


QAT_BITS = (2, 8)  # tfmot's fake quantization needs 2 bits or more; TFLite's integer model holds 8


def check_qat_bits(bits: int) -> int:
    """``bits`` if quantization-aware training can honour it (an integer in :data:`QAT_BITS`), else ConfigError."""
    low, high = QAT_BITS
    if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high:
        raise ConfigError(f"--bits={bits!r} is not allowed with method qat: tfmot's quantization-aware training "
                          f"quantizes weights to {low} to {high} bits (fake quantization needs {low} or more, the "
                          f"TFLite integer model holds {high}); give --bits in [{low}, {high}], or leave qat out")
    return bits


def qat_model(start: list, bits: int = 8) -> Callable:
    """A setup transform: the model with weights ``start``, as tfmot's quantization-aware model with
    ``bits``-bit weights (8-bit activations)."""
    check_qat_bits(bits)

    def transform(model):
        import tensorflow_model_optimization as tfmot

        from tfrobust.layers.plain import export_plain

        model.set_weights(start)
        plain = export_plain(model)
        if bits == 8:
            return tfmot.quantization.keras.quantize_model(plain)
        scheme = tfmot.quantization.keras.experimental.default_n_bit.DefaultNBitQuantizeScheme(
            num_bits_weight=bits, num_bits_activation=8)
        return tfmot.quantization.keras.quantize_apply(tfmot.quantization.keras.quantize_annotate_model(plain),
                                                       scheme=scheme)
    return transform
