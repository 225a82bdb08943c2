"""What a gap experiment is: the settings, their options (with help text) and the paper's grids.

No TensorFlow here, so a command line can check every option before the heavy imports.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional, Tuple

from tfrobust.errors import ConfigError

SOLVERS = ("auto", "exact1d", "newton")


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


SETTINGS = ("gaussian", "bernoulli", "gaussian_regression", "poisson_regression")

HELP = {
    "setting": f"data model: one of {', '.join(SETTINGS)}",
    "eps": "adversary strengths eps >= 0 (l_inf radius), comma-separated",
    "tau": "Bernoulli signal strengths tau in [0, 1], comma-separated (bernoulli only)",
    "n": "training-set sizes >= 1, comma-separated (or use n_max)",
    "reps": "Monte Carlo repetitions (training sets per n), >= 1",
    "seed": "random seed >= 0; the same seed gives the same numbers",
    "dim": "data dimension d >= 1",
    "mu": "Gaussian class mean mu (one value or d values)",
    "sigma": "Gaussian per-coordinate standard deviation sigma > 0 (one value or d values)",
    "W": "box bound ||w||_inf <= W of the classifiers, > 0",
    "x_std": "standard deviation of x in gaussian_regression, > 0",
    "noise_std": "standard deviation of the label noise in the regressions, >= 0",
    "w_star": "true regression weights w* (one value or d values)",
    "poisson_rate": "Poisson rate of x - poisson_shift in poisson_regression, > 0",
    "poisson_shift": "constant added to the Poisson counts in poisson_regression",
    "solver": f"robust regression solver: one of {', '.join(SOLVERS)}",
    "exact_horizon": "the exact gap curves are also scanned over n = 1..exact_horizon for the peak",
}

SETTING_OPTIONS = {
    "gaussian": ("mu", "sigma", "W"),
    "bernoulli": ("tau", "W"),
    "gaussian_regression": ("x_std", "noise_std", "w_star", "solver"),
    "poisson_regression": ("noise_std", "w_star", "poisson_rate", "poisson_shift", "solver"),
}


@dataclass(frozen=True)
class GapConfig:
    """Every option of one gap experiment (help text in ``HELP``); validated on construction."""

    setting: str
    eps: Tuple[float, ...]
    n: Tuple[int, ...]
    reps: int
    tau: Tuple[float, ...] = ()
    seed: int = 0
    dim: int = 1
    mu: Tuple[float, ...] = (1.0,)
    sigma: Tuple[float, ...] = (2.0,)
    W: float = 1.0
    x_std: float = 1.0
    noise_std: float = 1.0
    w_star: Tuple[float, ...] = (1.0,)
    poisson_rate: float = 5.0
    poisson_shift: float = 1.0
    solver: str = "auto"
    exact_horizon: int = 100_000

    def __post_init__(self):
        if self.setting not in SETTINGS:
            raise ConfigError(f"setting={self.setting!r} is not allowed; allowed: {', '.join(SETTINGS)}")
        _integer("reps", self.reps, 1)
        _integer("seed", self.seed, 0)
        _integer("exact_horizon", self.exact_horizon, 1)
        check_dim(self.dim)
        eps = tuple(check_number("eps", e, low=0.0) for e in _sequence("eps", self.eps))
        if len(set(eps)) != len(eps):
            raise ConfigError(f"eps={list(eps)} repeats a value; allowed: distinct values")
        n = tuple(_integer("n", v, 1) for v in _sequence("n", self.n))
        if len(set(n)) != len(n):
            raise ConfigError(f"n={list(n)} repeats a value; allowed: distinct sizes")
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "n", tuple(sorted(n)))
        tau = tuple(check_number("tau", t, low=0.0, high=1.0) for t in self.tau)
        if self.setting == "bernoulli" and not tau:
            raise ConfigError("tau=[] is not allowed for setting='bernoulli': give at least one tau")
        if self.setting != "bernoulli" and tau:
            raise ConfigError(f"tau={list(tau)} is not allowed for setting={self.setting!r}: "
                              "tau applies only to setting='bernoulli'")
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


# The figures' settings. The seed document (reproduction report) names the models and the n range,
# and mentions eps = 0.7, 0.9 and "eps between 0.7 and 1"; its companion code (mwendlinger/
# adversarial-machine-learning, src/cross_gen_gap) fixes the grids: Gaussian classification
# eps in {0, .2, .5, .7, .9, 1, 2} (we add .1, .3, .4, .6, .8, 1.5 to resolve the regime change at
# eps = mu = 1), n = 1..20; Bernoulli eps = .2, tau in {.1, .2, .5, .7}, n up to 181 (we take
# 1..200); Gaussian regression eps in {0, .1, .5, .75, 1}; Poisson regression
# eps in {0, .1, .2, .5, 1} (its default list), x = 1 + Poisson(5), y = x + N(0, 1), n = 1..20.
PAPER = {
    "gaussian": dict(eps=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0),
                     n=tuple(range(1, 21)), mu=(1.0,), sigma=(2.0,), W=1.0),
    "bernoulli": dict(eps=(0.2,), tau=(0.1, 0.2, 0.5, 0.7), n=tuple(range(1, 201)), W=1.0),
    "gaussian_regression": dict(eps=(0.0, 0.1, 0.5, 0.75, 1.0), n=tuple(range(1, 21))),
    "poisson_regression": dict(eps=(0.0, 0.1, 0.2, 0.5, 1.0), n=tuple(range(1, 21))),
}


def paper_config(setting: str, reps: int = 100_000, **overrides) -> GapConfig:
    if setting not in PAPER:
        raise ConfigError(f"setting={setting!r} is not allowed; allowed: {', '.join(SETTINGS)}")
    return GapConfig(setting=setting, reps=reps, **{**PAPER[setting], **overrides})


def paper_regime(config: GapConfig, tau: Optional[float], eps: float) -> Optional[str]:
    """The regime Chen et al. prove for the classification models: ``"strong"`` when
    ``eps >= |mu_j|`` for every signal coordinate (Gaussian) or ``eps >= tau`` (Bernoulli) -- the gap
    increases for ever; ``"weak"`` when ``eps < |mu_j|`` for every one -- it increases, then
    decreases to 0; ``"mixed"`` in between (Gaussian, d > 1); None for the regressions."""
    if config.setting == "gaussian":
        signal = [abs(m) for m in config.mu if m != 0]
        if all(eps >= m for m in signal):
            return "strong"
        return "weak" if all(eps < m for m in signal) else "mixed"
    if config.setting == "bernoulli":
        return "strong" if eps >= tau else "weak"
    return None
