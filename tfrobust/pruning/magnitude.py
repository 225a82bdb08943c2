"""Magnitude pruning of masks: remove the smallest remaining weights, per layer or globally.

Rates are fractions of the weights that *remain*: pruning 20% of a layer that keeps 800 of 1,000
weights removes exactly ``round(0.2 * 800) = 160`` more (ties broken by position, so the result is
deterministic). Masks only ever shrink.

    rates = layer_rates(model, rate=0.2, output_rate=0.1)     # the lottery document's rates
    masks = prune_masks(model, rates)                          # mask name -> new 0/1 mask
    masks = prune_masks(model, global_rate=0.2, skip=("output",))

Weights and masks are read only through the compressible-layer protocol
(:mod:`tfrobust.layers.compressible`): names are mask names (for masked layers, the layer name),
and any layer whose ``prunable()`` lists variables is pruned, whatever its type.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables
from tfrobust.layers.masks import masked_layers, unknown_masks_error


def _check_rate(rate: float, what: str) -> None:
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"{what}={rate!r} is not allowed; a pruning rate must be in [0, 1)")


def layer_rates(model, rate: float = 0.2, output_rate: Optional[float] = 0.1,
                overrides: Mapping[str, float] = None, skip: Sequence[str] = ()) -> Dict[str, float]:
    """Mask name -> pruning rate: ``rate`` for every mask, ``output_rate`` for the masks of the last
    masked layer (``None``: the same as the others), ``overrides`` by name, 0 for ``skip``. Unknown
    names fail."""
    names = [p.name for p in prunable_variables(model)]
    if not names:
        raise ConfigError(f"model {model.name!r} has no masked layers to prune")
    unknown = (set(overrides or {}) | set(skip)) - set(names)
    if unknown:
        raise unknown_masks_error(unknown, names)
    rates = {name: rate for name in names}
    if output_rate is not None:
        for p in masked_layers(model)[-1].prunable():
            rates[p.name] = output_rate
    rates.update(overrides or {})
    for name in skip:
        rates[name] = 0.0
    for name, r in rates.items():
        _check_rate(r, f"the pruning rate of {name}")
    return rates


def prune_array(weights: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    """``mask`` with the ``count`` smallest-magnitude remaining entries of ``weights`` set to 0."""
    flat = mask.reshape(-1).copy()
    remaining = np.flatnonzero(flat)
    if count > remaining.size:
        raise ConfigError(f"cannot prune {count} weights: only {remaining.size} remain")
    if count > 0:
        order = np.argsort(np.abs(weights.reshape(-1)[remaining]), kind="stable")
        flat[remaining[order[:count]]] = 0
    return flat.reshape(mask.shape)


def prune_masks(model, rates: Optional[Mapping[str, float]] = None, global_rate: Optional[float] = None,
                skip: Sequence[str] = ()) -> Dict[str, np.ndarray]:
    """New masks (mask name -> float32 0/1 array) after one magnitude-pruning step.

    Either per-layer ``rates`` (see :func:`layer_rates`; layers not named keep their mask), or one
    ``global_rate`` over the remaining weights of all layers not in ``skip``: the smallest
    magnitudes across layers go first, so layers end with different rates.
    """
    if (rates is None) == (global_rate is None):
        raise ConfigError("give either per-layer rates or a global rate, not both or neither")
    entries = prunable_variables(model)
    kernels = {p.name: p.variable.numpy() for p in entries}
    masks = {p.name: p.mask.numpy() for p in entries}
    if rates is not None:
        unknown = set(rates) - set(masks)
        if unknown:
            raise unknown_masks_error(unknown, masks)
        out = {}
        for name, mask in masks.items():
            rate = rates.get(name, 0.0)
            _check_rate(rate, f"the pruning rate of {name}")
            out[name] = prune_array(kernels[name], mask, int(round(rate * np.count_nonzero(mask))))
        return out
    _check_rate(global_rate, "the global pruning rate")
    unknown = set(skip) - set(masks)
    if unknown:
        raise unknown_masks_error(unknown, masks)
    pooled = [n for n in masks if n not in skip]
    sizes = [masks[n].size for n in pooled]
    all_weights = np.concatenate([kernels[n].reshape(-1) for n in pooled])
    all_masks = np.concatenate([masks[n].reshape(-1) for n in pooled])
    count = int(round(global_rate * np.count_nonzero(all_masks)))
    pruned = np.split(prune_array(all_weights, all_masks, count), np.cumsum(sizes)[:-1])
    out = dict(masks)
    for name, flat in zip(pooled, pruned):
        out[name] = flat.reshape(masks[name].shape)
    return out
