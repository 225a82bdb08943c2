"""The shape of a gap curve: does it keep increasing, or increase and then decrease, and where does
it peak?

Chen et al. prove two regimes for the cross-generalization gap ``g(n) = E[L(w_rob)] - E[L(w_std)]``:
a *strong* adversary gives a gap that increases with ``n`` for ever; a *weak* one gives a gap that
first increases and then decreases (to 0 in the Gaussian model). :func:`classify_gap` decides which
of these a (Monte Carlo or exact) curve shows on its grid of ``n``, with a significance test when
standard errors are given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

INCREASING = "increasing"
INCREASE_THEN_DECREASE = "increase-then-decrease"
DECREASING = "decreasing"
FLAT = "flat"


@dataclass(frozen=True)
class GapShape:
    regime: str  # one of INCREASING, INCREASE_THEN_DECREASE, DECREASING, FLAT
    peak_n: int
    peak_gap: float
    peak_se: float  # nan for exact curves
    first_n: int
    first_gap: float
    last_n: int
    last_gap: float
    last_se: float  # nan for exact curves
    rise: float  # peak - first
    drop: float  # peak - last
    unimodal: bool  # non-decreasing up to the peak and non-increasing after it (within tolerance)

    def describe(self) -> str:
        peak = f"{self.peak_gap:.4g}" + ("" if np.isnan(self.peak_se) else f" +- {self.peak_se:.2g}")
        if self.regime == INCREASING:
            return (f"keeps increasing over n = {self.first_n}..{self.last_n} "
                    f"(gap {self.last_gap:.4g} at n={self.last_n})")
        if self.regime == INCREASE_THEN_DECREASE:
            return (f"increases then decreases: peak at n={self.peak_n} (gap {peak}), "
                    f"down to {self.last_gap:.4g} at n={self.last_n}")
        if self.regime == DECREASING:
            return f"decreases from n={self.peak_n} (gap {peak}) to {self.last_gap:.4g} at n={self.last_n}"
        return "flat (no significant change)"


def classify_gap(n, gap, se: Optional[np.ndarray] = None, cov: Optional[np.ndarray] = None,
                 z: float = 3.0, rtol: float = 1e-9, atol: float = 1e-12) -> GapShape:
    """Classify the curve ``gap`` over the increasing sizes ``n``.

    A change between the points ``i`` and ``j`` is *significant* when it exceeds ``z`` standard
    errors of the difference: from ``cov`` (covariance of the estimates across ``n``, which the
    Monte Carlo's paired, nested training sets provide) when given, else ``sqrt(se_i^2 + se_j^2)``.
    For an exact curve (no ``se``, no ``cov``) it must exceed ``rtol * max|gap| + atol``.
    The peak is the largest value; "increase-then-decrease" needs a significant drop from the peak
    to the last ``n``; "increasing" a significant rise from the first ``n`` to the peak and no
    significant drop after it.
    """
    n = np.asarray(n)
    gap = np.asarray(gap, dtype=np.float64)
    if cov is not None:
        cov = np.nan_to_num(np.asarray(cov, dtype=np.float64))
        se = np.sqrt(np.maximum(np.diagonal(cov), 0.0))
    else:
        se = np.zeros_like(gap) if se is None else np.nan_to_num(np.asarray(se, dtype=np.float64))
    tol = rtol * np.max(np.abs(gap)) + atol

    def diff_se(i, j):
        if cov is not None:
            return np.sqrt(np.maximum(cov[i, i] + cov[j, j] - 2.0 * cov[i, j], 0.0))
        return np.hypot(se[i], se[j])

    def significant(delta, i, j):
        return delta > max(z * diff_se(i, j), tol)

    p = int(np.argmax(gap))
    last = len(gap) - 1
    rise, drop = gap[p] - gap[0], gap[p] - gap[last]
    rises, drops = significant(rise, p, 0), significant(drop, p, last)
    if drops and p > 0:
        regime = INCREASE_THEN_DECREASE
    elif drops:
        regime = DECREASING
    elif rises:
        regime = INCREASING
    else:
        regime = FLAT
    steps = np.diff(gap)
    slack = np.array([z * diff_se(i, i + 1) for i in range(last)]) + tol
    unimodal = bool(np.all(steps[:p] >= -slack[:p]) and np.all(steps[p:] <= slack[p:]))
    has_se = bool(np.any(se > 0))
    return GapShape(regime=regime, peak_n=int(n[p]), peak_gap=float(gap[p]),
                    peak_se=float(se[p]) if has_se else float("nan"), first_n=int(n[0]),
                    first_gap=float(gap[0]), last_n=int(n[-1]), last_gap=float(gap[-1]),
                    last_se=float(se[-1]) if has_se else float("nan"), rise=float(rise),
                    drop=float(drop), unimodal=unimodal)
