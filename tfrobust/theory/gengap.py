"""One gap experiment: a ``GapConfig`` (:mod:`tfrobust.theory.config`) -> Monte Carlo curves,
exact curves, the shape of every gap curve, timings.

The driver is the same for every setting: the setting (:mod:`tfrobust.theory.settings`) builds the
data models, and each data model brings its own Monte Carlo kernel and exact expected loss.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from tfrobust.config import check_memory
from tfrobust.theory import montecarlo, shapes
from tfrobust.theory.config import CHUNK_BYTES, GapConfig
from tfrobust.theory.settings import SETTINGS


def distributions(config: GapConfig) -> list:
    """One data model per variant of ``config`` (one per tau for bernoulli, else one)."""
    return [dist for _, dist in SETTINGS.get(config.setting).variants(config)]


@dataclass
class Variant:
    """The curves of one data distribution (one tau for bernoulli)."""

    tau: Optional[float]
    mc: montecarlo.MonteCarloCurves
    exact_std: Optional[np.ndarray] = None  # [N]
    exact_rob: Optional[np.ndarray] = None  # [E, N]
    std_infinite: Optional[np.ndarray] = None  # [N] bool: E[standard loss] = inf there

    @property
    def exact_gap(self):
        return None if self.exact_rob is None else self.exact_rob - self.exact_std[None]


@dataclass
class ShapeRecord:
    tau: Optional[float]
    eps: float
    source: str  # "monte_carlo" (on the n grid), "exact" (n grid), "exact_horizon" (n = 1..H)
    shape: shapes.GapShape


@dataclass
class GapResults:
    config: GapConfig
    variants: List[Variant]
    shapes: List[ShapeRecord] = field(default_factory=list)
    seconds_mc: float = 0.0
    seconds_exact: float = 0.0
    max_abs_z: Optional[float] = None  # largest |MC - exact| / se over the gap curves


def check_fits(config: GapConfig, pairs) -> None:
    """Refuses, naming the options, sizes whose Monte Carlo chunks (at least 16 repetitions, a few
    float64 tensors of the data model's ``chunk_cost``) need more than this machine's memory."""
    n_max = max(config.n)
    cost = max(dist.chunk_cost(n_max, len(config.n), len(config.eps), config.solver) for _, dist in pairs)
    shown = {"n": f"n=[{config.n[0]}..{n_max}] ({len(config.n)} sizes)", "eps": f"eps ({len(config.eps)} values)",
             "dim": f"dim={config.dim}"}
    check_memory([("a Monte Carlo chunk of 16 repetitions", CHUNK_BYTES * cost, ("n", "eps", "dim"))], shown.get)


def run(config: GapConfig) -> GapResults:
    """Monte Carlo for every (tau, eps, n); exact curves and shapes where available."""
    pairs = SETTINGS.get(config.setting).variants(config)
    check_fits(config, pairs)
    variants, seconds_mc = [], 0.0
    for index, (tau, dist) in enumerate(pairs):
        mc = montecarlo.simulate(dist, config.n, config.eps, config.reps, seed=config.seed,
                                 stream=index, solver=config.solver)
        seconds_mc += mc.seconds
        infinite = np.array([dist.standard_loss_infinite(v) for v in mc.n], dtype=bool)
        variants.append(Variant(tau=tau, mc=mc, std_infinite=infinite))
    results = GapResults(config=config, variants=variants, seconds_mc=seconds_mc)

    start = time.perf_counter()
    horizon = np.arange(1, config.exact_horizon + 1)
    zs = []
    for (_, dist), v in zip(pairs, variants):
        exact = dist.expected_loss(v.mc.n, np.concatenate([[0.0], v.mc.eps]))
        if exact is not None:
            exact = exact.numpy()
            v.exact_std, v.exact_rob = exact[0], exact[1:]
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.abs(v.mc.gap - v.exact_gap) / v.mc.gap_se
            zs.append(np.nanmax(np.where(np.isfinite(z), z, np.nan), initial=0.0))
            far = dist.expected_loss(horizon, np.concatenate([[0.0], v.mc.eps]))
            far = far.numpy()
            for e, eps in enumerate(v.mc.eps):
                results.shapes.append(ShapeRecord(v.tau, float(eps), "exact",
                                                  shapes.classify_gap(v.mc.n, v.exact_gap[e])))
                results.shapes.append(ShapeRecord(v.tau, float(eps), "exact_horizon",
                                                  shapes.classify_gap(horizon, far[1 + e] - far[0])))
        ok = ~v.std_infinite
        for e, eps in enumerate(v.mc.eps):  # a shape needs standard errors: 2 repetitions at least
            if ok.sum() >= 2 and config.reps >= 2:
                cov = v.mc.gap_cov[e][np.ix_(ok, ok)]
                shape = shapes.classify_gap(v.mc.n[ok], v.mc.gap[e][ok], cov=cov)
                results.shapes.append(ShapeRecord(v.tau, float(eps), "monte_carlo", shape))
    results.seconds_exact = time.perf_counter() - start
    results.max_abs_z = float(max(zs)) if zs else None
    return results


__all__ = ["GapResults", "ShapeRecord", "Variant", "distributions", "run"]
