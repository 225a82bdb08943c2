"""What a gap experiment is: ``GapConfig``, every option with its help text, validated.

The settings (their options, the paper's grids) are registered in :mod:`tfrobust.theory.settings`.
No TensorFlow here, so a command line can check every option before the heavy imports.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

from tfrobust.config import check_bounds, check_memory, field
from tfrobust.errors import ConfigError
from tfrobust.theory.settings import SETTINGS

SOLVERS = ("auto", "exact1d", "newton")
MAX_EXACT_HORIZON = 10_000_000
CHUNK_BYTES = 4 * 16 * 8  # per unit of a data model's chunk_cost: a few float64 tensors of 16 repetitions


def as_vector(name: str, value, dim: int, *, positive: bool = False) -> Tuple[float, ...]:
    """``value`` (a number or a sequence of 1 or ``dim`` numbers) as a ``dim``-tuple of floats."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    try:
        values = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not allowed: give numbers") from None
    if len(values) == 1:
        values = values * dim
    if len(values) != dim:
        raise ConfigError(f"{name}={list(values)} has {len(values)} entries; allowed: 1 or dim={dim}")
    for v in values:
        if not math.isfinite(v) or (positive and v <= 0):
            allowed = "finite numbers > 0" if positive else "finite numbers"
            raise ConfigError(f"{name}={list(values)} is not allowed: allowed values are {allowed}")
    return values


def check_number(name: str, value, *, low: float = -math.inf, low_open: bool = False,
                 high: float = math.inf) -> float:
    """``value`` as a float in ``[low, high]`` (``(low, high]`` if ``low_open``), else ConfigError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} is not allowed: give a number") from None
    bad = not math.isfinite(v) or v > high or v < low or (low_open and v == low)
    if bad:
        lo = "(" if low_open else "["
        raise ConfigError(f"{name}={value!r} is not allowed: allowed range is {lo}{low}, {high}]")
    return v


def check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ConfigError(f"dim={dim!r} is not allowed: allowed values are integers >= 1")
    return dim


_f = field  # tfrobust.config.field: help text and, for an integer, its kind


@dataclass(frozen=True)
class GapConfig:
    """Every option of one gap experiment, validated on construction.

    Field names are the flag names of ``runs.gengap`` (the flags are generated from these fields,
    with this help text), so a validation error names the flag. ``setting``, ``eps`` and ``n`` have
    no usable default; the command line fills ``eps``, ``n`` and ``tau`` from the setting's paper
    grid (``SETTINGS.get(setting).paper``) when their flags are absent, as :func:`paper_config`
    does in Python.
    """

    setting: Optional[str] = _f(None, f"data model: one of {', '.join(SETTINGS.names())}")
    eps: Tuple[float, ...] = _f((), "adversary strengths eps >= 0 (l_inf radius); "
                                    "default: the paper's grid for --setting")
    n: Tuple[int, ...] = _f((), "training-set sizes >= 1 (or use n_max; default: the paper's range)", kind="size")
    reps: int = _f(100_000, "Monte Carlo repetitions (training sets per n), >= 1")
    tau: Tuple[float, ...] = _f((), "Bernoulli signal strengths tau in [0, 1] (bernoulli only); "
                                    "default: the paper's values for --setting")
    seed: int = _f(0, "random seed >= 0; the same seed gives the same numbers", kind="seed")
    dim: int = _f(1, "data dimension d >= 1", kind="size")
    mu: Tuple[float, ...] = _f((1.0,), "Gaussian class mean mu (one value or d values)")
    sigma: Tuple[float, ...] = _f((2.0,), "Gaussian per-coordinate standard deviation sigma > 0 "
                                          "(one value or d values)")
    W: float = _f(1.0, "box bound ||w||_inf <= W of the classifiers, > 0")
    x_std: float = _f(1.0, "standard deviation of x in gaussian_regression, > 0")
    noise_std: float = _f(1.0, "standard deviation of the label noise in the regressions, >= 0")
    w_star: Tuple[float, ...] = _f((1.0,), "true regression weights w* (one value or d values)")
    poisson_rate: float = _f(5.0, "Poisson rate of x - poisson_shift in poisson_regression, > 0")
    poisson_shift: float = _f(1.0, "constant added to the Poisson counts in poisson_regression")
    solver: str = _f("auto", f"robust regression solver: one of {', '.join(SOLVERS)}")
    exact_horizon: int = _f(100_000, "the exact gap curves are also scanned over "
                                     "n = 1..exact_horizon for the peak")

    def __post_init__(self):
        setting = SETTINGS.get(self.setting)
        check_bounds(self, prefix="")
        _integer("reps", self.reps, 1)
        _integer("seed", self.seed, 0)
        _integer("exact_horizon", self.exact_horizon, 1)
        if self.exact_horizon > MAX_EXACT_HORIZON:
            raise ConfigError(f"exact_horizon={self.exact_horizon} is not allowed: allowed values are integers "
                              f"<= {MAX_EXACT_HORIZON:,} (the exact curves hold (1 + number of eps) x "
                              "exact_horizon float64 values, several times over)")
        check_dim(self.dim)
        # mu, sigma and w_star hold dim numbers; every data model's chunk at least dim per repetition
        check_memory([("the data model's vectors and Monte Carlo chunks", (24 + CHUNK_BYTES) * self.dim, ("dim",))],
                     lambda name: f"{name}={getattr(self, name)}")
        eps = tuple(check_number("eps", e, low=0.0) for e in _sequence("eps", self.eps))
        if len(set(eps)) != len(eps):
            raise ConfigError(f"eps={list(eps)} repeats a value; allowed: distinct values")
        n = tuple(_integer("n", v, 1) for v in _sequence("n", self.n))
        if len(set(n)) != len(n):
            raise ConfigError(f"n={list(n)} repeats a value; allowed: distinct sizes")
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "n", tuple(sorted(n)))
        tau = tuple(check_number("tau", t, low=0.0, high=1.0) for t in self.tau)
        for name in setting.required:
            if not getattr(self, name):
                raise ConfigError(f"{name}=[] is not allowed for setting={self.setting!r}: "
                                  f"give at least one {name}")
        if tau and "tau" not in setting.options:
            users = " or ".join(f"setting={s!r}" for s in SETTINGS.users("tau"))
            raise ConfigError(f"tau={list(tau)} is not allowed for setting={self.setting!r}: "
                              f"tau applies only to {users}")
        if len(set(tau)) != len(tau):
            raise ConfigError(f"tau={list(tau)} repeats a value; allowed: distinct values")
        object.__setattr__(self, "tau", tau)
        if self.solver not in SOLVERS:
            raise ConfigError(f"solver={self.solver!r} is not allowed; allowed: {', '.join(SOLVERS)}")
        if self.solver == "exact1d" and self.dim != 1:
            raise ConfigError(f"solver='exact1d' is not allowed with dim={self.dim}; "
                              "allowed: dim=1, or solver='newton'/'auto'")
        d = self.dim
        object.__setattr__(self, "mu", as_vector("mu", self.mu, d))
        object.__setattr__(self, "sigma", as_vector("sigma", self.sigma, d, positive=True))
        object.__setattr__(self, "w_star", as_vector("w_star", self.w_star, d))
        object.__setattr__(self, "W", check_number("W", self.W, low=0.0, low_open=True))
        object.__setattr__(self, "x_std", check_number("x_std", self.x_std, low=0.0, low_open=True))
        object.__setattr__(self, "noise_std", check_number("noise_std", self.noise_std, low=0.0))
        object.__setattr__(self, "poisson_rate",
                           check_number("poisson_rate", self.poisson_rate, low=0.0, low_open=True))
        object.__setattr__(self, "poisson_shift", check_number("poisson_shift", self.poisson_shift))


def _sequence(name, value):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name}={value!r} is not allowed: give a list")
    value = tuple(value)
    if not value:
        raise ConfigError(f"{name}=[] is not allowed: give at least one value")
    return value


def _integer(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ConfigError(f"{name}={value!r} is not allowed: allowed values are integers >= {low}")
    return int(value)


def paper_config(setting: str, reps: int = 100_000, **overrides) -> GapConfig:
    """The paper's figure for ``setting`` (its grids of eps, n and tau), with ``overrides``."""
    return GapConfig(setting=setting, reps=reps, **{**SETTINGS.get(setting).paper, **overrides})


def paper_regime(config: GapConfig, tau: Optional[float], eps: float) -> Optional[str]:
    """The regime Chen et al. prove for ``config``'s data model at ``eps`` (and ``tau``): ``"strong"``
    (the gap increases for ever), ``"weak"`` (it increases, then decreases), ``"mixed"`` (Gaussian,
    d > 1: strong for some coordinates, weak for others) or None (the regressions)."""
    return SETTINGS.get(config.setting).paper_regime(config, tau, eps)
