"""Masked layers and the helpers that read, set and count their masks."""
from tfrobust.layers.masked import MaskConstraint, MaskedConv2D, MaskedDense, MaskedMixin
from tfrobust.layers.masks import count_weights, get_masks, masked_layers, set_masks

__all__ = [
    "MaskConstraint",
    "MaskedConv2D",
    "MaskedDense",
    "MaskedMixin",
    "count_weights",
    "get_masks",
    "masked_layers",
    "set_masks",
]
