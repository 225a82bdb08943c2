"""The settings of a gap experiment: one registry entry per data model of Chen et al. (2020).

``SETTINGS.get(name)`` (``name`` as ``--setting`` spells it) gives a :class:`Setting`: the options
that describe its data model, the paper's grids, the data models a config asks for (one per tau for
bernoulli) and the regime the paper proves. The data models themselves
(:mod:`tfrobust.theory.distributions`) own their sampler, natural loss, exact expected loss (where
it has a closed form) and Monte Carlo kernel, so the driver (:mod:`tfrobust.theory.gengap`) never
asks which setting it runs. A new setting is one :class:`Setting` subclass registered here (or
anywhere) plus its data model.

No TensorFlow here, so that a command line can check every option before the heavy imports; the
data models load it when they are first built.
"""
from __future__ import annotations

import abc
from typing import Any, List, Mapping, Optional, Tuple

from tfrobust.errors import ConfigError
from tfrobust.registry import Registry


class SettingRegistry(Registry):
    """The settings, listed in the order they were registered (the paper's), not sorted."""

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name: str) -> "Setting":
        if name not in self:
            raise ConfigError(f"setting={name!r} is not allowed; allowed: {', '.join(self.names())}")
        return super().get(name)

    def users(self, option: str) -> list[str]:
        """The settings whose data model takes ``option``."""
        return [name for name in self.names() if option in self.get(name).options]


SETTINGS = SettingRegistry("setting")


class Setting(abc.ABC):
    """What varies by setting, apart from the data model's own maths."""

    options: Tuple[str, ...] = ()  # GapConfig fields (and flags) that describe the data model
    required: Tuple[str, ...] = ()  # of those, the lists that need at least one value
    paper: Mapping[str, Any] = {}  # the paper's grids (eps, n, tau): GapConfig values
    note: str = ""  # a remark for the run's summary

    @abc.abstractmethod
    def variants(self, config) -> List[Tuple[Optional[float], Any]]:
        """``(tau, data model)`` for each family of curves: one per tau for bernoulli, else one
        with ``tau = None``."""

    def paper_regime(self, config, tau: Optional[float], eps: float) -> Optional[str]:
        """The regime Chen et al. prove at ``eps`` (and ``tau``): ``"strong"``, ``"weak"``,
        ``"mixed"``, or None where the paper proves none."""
        return None


# The figures' grids. The seed document (reproduction report) names the models and the n range,
# and mentions eps = 0.7, 0.9 and "eps between 0.7 and 1"; its companion code (mwendlinger/
# adversarial-machine-learning, src/cross_gen_gap) fixes the grids: Gaussian classification
# eps in {0, .2, .5, .7, .9, 1, 2} (we add .1, .3, .4, .6, .8, 1.5 to resolve the regime change at
# eps = mu = 1), n = 1..20, mu = 1, sigma = 2, W = 1 (GapConfig's defaults); Bernoulli eps = .2,
# tau in {.1, .2, .5, .7}, n up to 181 (we take 1..200); Gaussian regression eps in
# {0, .1, .5, .75, 1}; Poisson regression eps in {0, .1, .2, .5, 1} (its default list),
# x = 1 + Poisson(5), y = x + N(0, 1), n = 1..20.
N_20 = tuple(range(1, 21))


class GaussianSetting(Setting):
    """``y ~ Unif{+-1}``, ``x | y ~ N(y mu, diag(sigma^2))``; loss ``-y<w, x>``, ``||w||_inf <= W``."""

    options = ("mu", "sigma", "W")
    paper = dict(eps=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0), n=N_20)

    def variants(self, config):
        from tfrobust.theory.distributions import GaussianClassification

        return [(None, GaussianClassification(mu=config.mu, sigma=config.sigma, W=config.W))]

    def paper_regime(self, config, tau, eps):
        """``"strong"`` when ``eps >= |mu_j|`` for every signal coordinate (the gap increases for
        ever), ``"weak"`` when ``eps < |mu_j|`` for every one (it increases, then decreases to 0),
        ``"mixed"`` in between (d > 1)."""
        signal = [abs(m) for m in config.mu if m != 0]
        if all(eps >= m for m in signal):
            return "strong"
        return "weak" if all(eps < m for m in signal) else "mixed"


class BernoulliSetting(Setting):
    """``y ~ Unif{+-1}``, ``x_j = y`` with probability ``(1 + tau) / 2``; one curve family per tau."""

    options = ("tau", "W")
    required = ("tau",)
    paper = dict(eps=(0.2,), tau=(0.1, 0.2, 0.5, 0.7), n=tuple(range(1, 201)))
    note = ("Bernoulli data put m_j = mean(y x_j) on the lattice {-1, -1 + 2/n, ..., 1}: "
            "|m_j| = eps happens with positive probability and is a tie (any w_j in "
            "[0, W] sign(m_j) is optimal; the rule takes 0), and m_j = 0 is possible only "
            "for even n. Hence the curves zigzag with the parity of n.")

    def variants(self, config):
        from tfrobust.theory.distributions import BernoulliClassification

        return [(t, BernoulliClassification(tau=t, dim=config.dim, W=config.W)) for t in config.tau]

    def paper_regime(self, config, tau, eps):
        """``"strong"`` (the gap keeps increasing) when ``eps >= tau``, else ``"weak"``."""
        return "strong" if eps >= tau else "weak"


class GaussianRegressionSetting(Setting):
    """``x ~ N(0, x_std^2 I)``, ``y = <w*, x> + N(0, noise_std^2)``; squared loss."""

    options = ("x_std", "noise_std", "w_star", "solver")
    paper = dict(eps=(0.0, 0.1, 0.5, 0.75, 1.0), n=N_20)

    def variants(self, config):
        from tfrobust.theory.distributions import GaussianRegression

        return [(None, GaussianRegression(dim=config.dim, x_std=config.x_std,
                                          noise_std=config.noise_std, w_star=config.w_star))]


class PoissonRegressionSetting(Setting):
    """``x_j = poisson_shift + Poisson(poisson_rate)``, ``y = <w*, x> + N(0, noise_std^2)``."""

    options = ("poisson_rate", "poisson_shift", "noise_std", "w_star", "solver")
    paper = dict(eps=(0.0, 0.1, 0.2, 0.5, 1.0), n=N_20)

    def variants(self, config):
        from tfrobust.theory.distributions import PoissonRegression

        return [(None, PoissonRegression(dim=config.dim, rate=config.poisson_rate,
                                         shift=config.poisson_shift, noise_std=config.noise_std,
                                         w_star=config.w_star))]


SETTINGS.register("gaussian")(GaussianSetting())
SETTINGS.register("bernoulli")(BernoulliSetting())
SETTINGS.register("gaussian_regression")(GaussianRegressionSetting())
SETTINGS.register("poisson_regression")(PoissonRegressionSetting())
