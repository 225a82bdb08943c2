"""Quantization of weight arrays: k-means with a fixed zero centre (ATMC), and uniform per channel.

Both keep zeros at zero, so a pruned array stays pruned, and both are pure NumPy functions that
return the quantized array in the input's shape and dtype.

**k-means with a fixed zero** (:func:`kmeans_fixed_zero`, ATMC's ``kmeans_nnz_fixed_0_center``).
A ``bits``-bit code indexes a codebook of ``2**bits`` values, one of which is exactly 0. The
nonzero entries of ``w`` are clustered by 1-D Lloyd k-means into at most ``2**bits - 1`` nonzero
centres, the zero centre taking part in the assignment but never moving: a small nonzero weight
may be snapped to 0, a zero weight always stays 0. Lloyd's algorithm in one dimension keeps every
cluster an interval of the sorted values, so after one sort each step is a binary search for the
midpoints between the sorted centres and one segmented sum (``np.add.reduceat``): no loop over
centres (400k entries at 8 bits take about 0.1 s).

- Initial centres: the levels of per-tensor symmetric uniform quantization at the same bits that
  some value rounds to (``j * max|w| / L``, ``L = 2**(bits-1) - 1``, see below), and the spare
  centres at evenly spaced quantiles of the nonzero values (for ``bits=1``: the median alone).
  Each Lloyd step lowers the squared error, so the result is deterministic and its error is never
  above that of per-tensor uniform quantization (up to float rounding). At most ``iters`` steps,
  stopping early when no value changes cluster; a centre whose cluster empties keeps its place,
  and the codebook keeps only the centres in use (and 0).
- If ``w`` has at most ``2**bits - 1`` distinct nonzero values, it is returned unchanged (the
  reference leaves a layer with at most ``2**bits - 1`` nonzero entries alone); ``bits=32``
  therefore always returns ``w``.
- Differences from the reference: it starts from randomly drawn nonzero weights (Forgy), runs at
  most 20 steps, and keeps ``2**bits`` nonzero centres *plus* zero, ``2**bits + 1`` values that a
  ``bits``-bit code cannot index; here the codebook has ``2**bits`` values, zero included.

**Uniform per channel** (:func:`uniform_per_channel`). Symmetric, one scale per output channel
(the last axis of a Keras kernel): with ``L = 2**(bits-1) - 1``, ``scale = max|w| / L`` over the
channel and ``quantized = clip(round(w / scale), -L, L) * scale`` (round half to even). That is
``2L + 1 = 2**bits - 1`` levels, zero included, and an error of at most ``scale / 2``. ``bits=1``
would leave only the level 0, so uniform quantization takes ``bits >= 2``. An all-zero channel
has scale 0 and stays 0.

    codebook, q = kmeans_fixed_zero(kernel, bits=8)     # distinct_values(q) <= 256, q == snap(kernel, codebook)
    scales, q = uniform_per_channel(kernel, bits=8)     # scales.shape == (kernel.shape[-1],)
    q = quantize(kernel, 8, method="uniform")
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from tfrobust.errors import ConfigError

METHODS = ("kmeans", "uniform")


def check_bits(bits) -> None:
    """Fails unless ``bits`` is an integer in [1, 32]."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
        raise ConfigError(f"bits={bits!r} is not allowed; it must be an integer in [1, 32]")


def check_method(bits, method: str) -> None:
    """Fails unless ``method`` is one of :data:`METHODS` and ``bits`` suits it (uniform: >= 2)."""
    if method not in METHODS:
        raise ConfigError(f"quantization method={method!r} is not allowed; known: {', '.join(METHODS)}")
    check_bits(bits)
    if method == "uniform" and bits < 2:
        raise ConfigError(f"bits={bits!r} is not allowed for method='uniform'; it must be an integer in [2, 32] "
                          "(symmetric levels -L..L around 0)")


def _as_float(w) -> np.ndarray:
    w = np.asarray(w)
    w = w.astype(np.result_type(w.dtype, np.float32), copy=False)
    if not np.all(np.isfinite(w)):
        raise ConfigError("cannot quantize an array with NaN or infinite entries")
    return w


def snap(w, codebook) -> np.ndarray:
    """Each entry of ``w`` replaced by its nearest codebook value (``w``'s dtype; a value exactly
    halfway between two centres goes to the lower one). The codebook need not be sorted; if it
    holds 0, zeros stay 0."""
    w = np.asarray(w)
    centres = np.sort(np.asarray(codebook, dtype=w.dtype).reshape(-1))
    midpoints = 0.5 * (centres[1:] + centres[:-1])
    return centres[np.searchsorted(midpoints, w, side="left")]


def _lloyd_fixed_zero(values: np.ndarray, k: int, iters: int) -> np.ndarray:
    """At most ``k`` sorted nonzero centres for the sorted nonzero float64 ``values`` (plus a fixed 0)."""
    levels = (k - 1) // 2  # the uniform grid's L = 2**(bits-1) - 1
    scale = np.abs(values).max() / max(levels, 1)
    used = np.unique(np.clip(np.round(values / scale), -levels, levels)) * scale  # grid levels in use
    spare = k - np.count_nonzero(used)
    spares = np.quantile(values, (np.arange(spare) + 0.5) / spare, method="inverted_cdf")  # data values
    init = np.append(used, spares)
    centres = np.unique(np.append(init[init != 0], 0.0))
    zero = int(np.flatnonzero(centres == 0)[0])
    bounds = None
    for _ in range(iters):
        # cluster j holds values in (mid[j-1], mid[j]]: sorted values[lo[j]:hi[j]]
        new_bounds = np.searchsorted(values, 0.5 * (centres[1:] + centres[:-1]), side="right")
        if bounds is not None and np.array_equal(new_bounds, bounds):
            break
        bounds = new_bounds
        lo = np.concatenate([[0], bounds])
        counts = np.diff(np.append(lo, values.size))
        filled = counts > 0
        centres = centres.copy()  # each mean lies in its cluster's interval: the centres stay sorted
        centres[filled] = np.add.reduceat(values, lo[filled]) / counts[filled]
        centres[zero] = 0.0
    return np.delete(centres, zero)


def kmeans_fixed_zero(w, bits: int, iters: int = 30) -> Tuple[np.ndarray, np.ndarray]:
    """``(codebook, quantized)``: k-means quantization of ``w`` with a fixed zero centre.

    ``codebook``: sorted distinct values, 0 among them, at most ``2**bits`` of them (fewer when
    ``w`` has few distinct values or centres merge); ``quantized == snap(w, codebook)`` has ``w``'s
    shape and dtype (floats; other dtypes become float), is 0 wherever ``w`` is 0, and equals ``w``
    when ``w`` has at most ``2**bits - 1`` distinct nonzero values. See the module docstring."""
    check_bits(bits)
    if not isinstance(iters, (int, np.integer)) or iters < 1:
        raise ConfigError(f"iters={iters!r} is not allowed; it must be an integer >= 1")
    w = _as_float(w)
    nonzero = np.unique(w[w != 0])  # sorted, distinct
    k = 2 ** bits - 1
    if nonzero.size <= k:
        return np.unique(np.append(nonzero, w.dtype.type(0))), w.copy()
    values = np.sort(w[w != 0].astype(np.float64))
    centres = _lloyd_fixed_zero(values, k, iters)
    quantized = snap(w, np.append(centres.astype(w.dtype), w.dtype.type(0)))
    return np.unique(np.append(quantized, w.dtype.type(0))), quantized  # the centres in use, and 0


def uniform_per_channel(w, bits: int, axis: int = -1) -> Tuple[np.ndarray, np.ndarray]:
    """``(scales, quantized)``: symmetric uniform quantization with one scale per index of ``axis``.

    ``scales[c] = max|w[..., c]| / L`` with ``L = 2**(bits-1) - 1`` (0 for an all-zero channel);
    ``quantized = clip(round(w / scale), -L, L) * scale`` in ``w``'s dtype, so each channel has at
    most ``2**bits - 1`` levels, zero included, zeros stay 0 and ``|quantized - w| <= scale / 2``
    (up to floating-point rounding). ``bits`` must be in [2, 32]."""
    check_method(bits, "uniform")
    w = _as_float(w)
    if w.ndim == 0:
        raise ConfigError("uniform per-channel quantization needs an array with at least one axis")
    axis = int(axis)
    if not -w.ndim <= axis < w.ndim:
        raise ConfigError(f"axis={axis} is not allowed for an array of shape {w.shape}")
    axis %= w.ndim
    levels = 2 ** (bits - 1) - 1
    others = tuple(a for a in range(w.ndim) if a != axis)
    scales = (np.max(np.abs(w), axis=others) / w.dtype.type(levels)).astype(w.dtype)
    shape = [1] * w.ndim
    shape[axis] = -1
    return scales, uniform_snap(w, scales.reshape(shape), bits)


def uniform_snap(w, scales, bits: int) -> np.ndarray:
    """``clip(round(w / scales), -L, L) * scales`` with ``L = 2**(bits-1) - 1``; 0 where a scale is 0.
    ``scales`` broadcasts against ``w`` (the same computation as the quantized layers' forward pass)."""
    w = np.asarray(w)
    scales = np.asarray(scales, dtype=w.dtype)
    levels = w.dtype.type(2 ** (bits - 1) - 1)
    safe = np.where(scales > 0, scales, w.dtype.type(1))
    return (np.clip(np.round(w / safe), -levels, levels) * scales).astype(w.dtype)


def quantize(w, bits: int, method: str = "kmeans") -> np.ndarray:
    """``w`` quantized to ``bits`` bits by ``method`` (one of :data:`METHODS`; uniform: per channel
    of the last axis)."""
    check_method(bits, method)
    if method == "kmeans":
        return kmeans_fixed_zero(w, bits)[1]
    return uniform_per_channel(w, bits)[1]


def distinct_values(w) -> int:
    """The number of distinct values in ``w`` (0 counts when present)."""
    return int(np.unique(np.asarray(w)).size)
