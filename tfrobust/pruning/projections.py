"""Euclidean projections of a layer's weights onto a sparsity constraint (ADMM's Z-update).

Each function takes a Keras kernel (dense ``(in, out)``, conv ``(kh, kw, in, out)``) and the
fraction of its units to remove, and returns ``(projected, mask)``: the nearest array, in the
Frobenius norm, with that many units zero, and the 0/1 mask of what it keeps. Exactly
``round(ratio * units)`` units are removed, the smallest first; ties go by position (the first
one goes), so the result is deterministic.

- ``irregular``: the units are single weights, ranked by ``|w|``;
- ``filter``: the units are output channels (the last axis), ranked by their L2 norm;
- ``column``: the units are the columns of the weight reshaped to ``(out, -1)`` as the reference
  (PyTorch, ``(out, in, kh, kw)``) writes it; in Keras' layout these are the rows of the kernel
  reshaped to ``(-1, out)``: one input channel at one kernel position, across all outputs.

    z, mask = project(w + u, "filter", 0.8)      # ADMM: Z = Proj(W + U)
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from tfrobust.errors import ConfigError

SPARSITY = ("irregular", "filter", "column")


def unit_shape(shape, kind: str) -> Tuple[int, int]:
    """``(units, weights per unit)`` of a kernel of ``shape`` under sparsity ``kind``."""
    size = int(np.prod(shape))
    if kind == "irregular":
        return size, 1
    if len(shape) < 2:
        raise ConfigError(f"sparsity {kind!r} needs a kernel of rank 2 or more; this one has shape {tuple(shape)}")
    units = shape[-1] if kind == "filter" else size // shape[-1]
    return units, size // units


def _units(weights: np.ndarray, kind: str) -> np.ndarray:
    """The array viewed as ``(units, rest)``: each row is one unit that is kept or removed whole."""
    units, per_unit = unit_shape(weights.shape, kind)
    if kind == "filter":
        return np.moveaxis(weights, -1, 0).reshape(units, per_unit)
    return weights.reshape(units, per_unit)


def _from_units(units: np.ndarray, kind: str, shape) -> np.ndarray:
    if kind == "filter":
        return np.moveaxis(units.reshape((shape[-1],) + tuple(shape[:-1])), 0, -1)
    return units.reshape(shape)


def removed_count(units: int, ratio: float) -> int:
    """How many of ``units`` a prune ratio removes: ``round(ratio * units)``."""
    return int(round(ratio * units))


def check_leaves_some(name: str, units: int, kind: str, ratio: float, flag: str = "") -> None:
    """Refuses a prune ratio that removes every one of the ``units`` of layer ``name`` under
    sparsity ``kind`` (the layer would keep no weight, and count as if it kept one), naming the
    layer, the ratio (``--flag=ratio`` with a flag) and the largest ratio that leaves one."""
    if units and removed_count(units, ratio) >= units:
        unit = {"irregular": "weights", "filter": "filters", "column": "columns"}.get(kind, "units")
        setting = f"--{flag}={ratio:g}" if flag else f"the prune ratio {ratio:g}"
        raise ConfigError(f"{setting} removes all {units} {unit} of {name} (sparsity {kind}), leaving it no weight; "
                          f"{name} needs a ratio below {(units - 0.5) / units:g}")


def project(weights: np.ndarray, kind: str, ratio: float) -> Tuple[np.ndarray, np.ndarray]:
    """``(projected, mask)``: ``weights`` with the ``round(ratio * units)`` weakest units of
    ``kind`` set to zero (see the module docstring), and the mask of the kept weights."""
    if kind not in SPARSITY:
        raise ConfigError(f"sparsity {kind!r} is not allowed; allowed: {', '.join(SPARSITY)}")
    if not (isinstance(ratio, (int, float)) and not isinstance(ratio, bool) and 0.0 <= ratio < 1.0):
        raise ConfigError(f"prune ratio {ratio!r} is not allowed; it must be in [0, 1)")
    weights = np.asarray(weights)
    units = _units(weights, kind)
    strength = np.sqrt(np.sum(np.square(units.astype(np.float64)), axis=1))
    remove = np.argsort(strength, kind="stable")[:removed_count(len(units), ratio)]
    keep = np.ones(len(units), dtype=bool)
    keep[remove] = False
    unit_mask = np.broadcast_to(keep[:, None], units.shape).astype(weights.dtype)
    mask = _from_units(unit_mask, kind, weights.shape)
    return weights * mask, mask
