"""Compressible layers (the protocol; masked, factorized and quantized layers), their masks, and
plain-Keras conversion."""
from tfrobust.layers.compressible import (Compressible, Prunable, compressible_layers, l1_penalty,
                                          model_size_bits, prunable_variables)
from tfrobust.layers.factorized import FactorizedConv2D, FactorizedDense, to_factorized
from tfrobust.layers.masked import MaskConstraint, MaskedConv2D, MaskedDense, MaskedMixin
from tfrobust.layers.masks import count_weights, get_masks, masked_layers, set_masks
from tfrobust.layers.plain import export_plain, from_plain, sparsity
from tfrobust.layers.quantized import QuantizedConv2D, QuantizedDense, to_quantized

__all__ = [
    "Compressible",
    "FactorizedConv2D",
    "FactorizedDense",
    "MaskConstraint",
    "MaskedConv2D",
    "MaskedDense",
    "MaskedMixin",
    "Prunable",
    "QuantizedConv2D",
    "QuantizedDense",
    "compressible_layers",
    "count_weights",
    "export_plain",
    "from_plain",
    "get_masks",
    "l1_penalty",
    "masked_layers",
    "model_size_bits",
    "prunable_variables",
    "set_masks",
    "sparsity",
    "to_factorized",
    "to_quantized",
]
