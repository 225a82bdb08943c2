"""Reading, setting and counting the masks of a model, through the compressible-layer protocol.

Masks are keyed by their :class:`~tfrobust.layers.compressible.Prunable` name: for MaskedDense and
MaskedConv2D, the layer name.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import Compressible, compressible_layers, prunable_variables


def unknown_masks_error(unknown, known) -> ConfigError:
    """The error for mask names a model does not have."""
    return ConfigError(f"no masked layer named {', '.join(map(repr, sorted(unknown)))}; "
                       f"known: {', '.join(known)}")


def masked_layers(model: keras.layers.Layer) -> List[Compressible]:
    """The compressible layers of ``model`` that have masks (nested models and layers included), in
    tracking order."""
    return [layer for layer in compressible_layers(model) if layer.prunable()]


def get_masks(model) -> Dict[str, np.ndarray]:
    """Mask name -> a copy of its mask (float32 0/1)."""
    return {p.name: p.mask.numpy().astype(np.float32) for p in prunable_variables(model)}


def set_masks(model, masks: Dict[str, np.ndarray]) -> None:
    """Sets the masks named in ``masks`` (mask name -> array); masked entries of their variables become 0."""
    entries = {p.name: p for p in prunable_variables(model)}
    unknown = set(masks) - set(entries)
    if unknown:
        raise unknown_masks_error(unknown, entries)
    for name, mask in masks.items():
        entries[name].assign(mask)


def count_weights(model) -> Dict[str, Dict[str, float]]:
    """Per mask and ``"total"``: the size of its variable, the entries that remain and their fraction."""
    counts, total, remaining = {}, 0, 0
    for name, mask in get_masks(model).items():
        n, r = int(mask.size), int(np.count_nonzero(mask))
        counts[name] = {"total": n, "remaining": r, "fraction": r / n}
        total, remaining = total + n, remaining + r
    counts["total"] = {
        "total": total,
        "remaining": remaining,
        "fraction": remaining / total if total else 1.0,
    }
    return counts
