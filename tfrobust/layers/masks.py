"""Reading, setting and counting the masks of a model built from masked layers."""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.masked import MaskedMixin


def masked_layers(model: keras.layers.Layer) -> List[MaskedMixin]:
    """The masked layers of ``model`` (nested models and layers included), in tracking order."""
    return [
        layer
        for layer in model._flatten_layers(include_self=True, recursive=True)
        if isinstance(layer, MaskedMixin)
    ]


def get_masks(model) -> Dict[str, np.ndarray]:
    """Layer name -> a copy of its mask (float32 0/1)."""
    return {layer.name: layer.mask.numpy().copy() for layer in masked_layers(model)}


def set_masks(model, masks: Dict[str, np.ndarray]) -> None:
    """Sets the masks named in ``masks`` (layer name -> array); masked kernel entries become 0."""
    layers = {layer.name: layer for layer in masked_layers(model)}
    unknown = sorted(set(masks) - set(layers))
    if unknown:
        raise ConfigError(
            f"no masked layer named {', '.join(map(repr, unknown))}; known: {', '.join(layers)}"
        )
    for name, mask in masks.items():
        layers[name].set_mask(mask)


def count_weights(model) -> Dict[str, Dict[str, float]]:
    """Per masked layer and ``"total"``: the kernel size, the weights that remain and their fraction."""
    counts, total, remaining = {}, 0, 0
    for layer in masked_layers(model):
        mask = layer.mask.numpy()
        n, r = int(mask.size), int(np.count_nonzero(mask))
        counts[layer.name] = {"total": n, "remaining": r, "fraction": r / n}
        total, remaining = total + n, remaining + r
    counts["total"] = {
        "total": total,
        "remaining": remaining,
        "fraction": remaining / total if total else 1.0,
    }
    return counts
