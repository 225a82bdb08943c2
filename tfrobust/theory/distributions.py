"""The four data models of Chen et al. (2020). Each owns what the gap experiment asks of it:

* ``sample(seed, shape)`` and ``natural_loss(w)``, the *population* natural (unperturbed) loss of a
  fixed ``w`` in closed form (so a Monte Carlo averages it over training sets; drawing a finite test
  set instead would only add noise to the same expectation);
* ``expected_loss(n, eps)``: the exact expected test loss of the eps-robust ERM, ``[E, N]``, where
  it has a closed form (classification), else None;
* ``monte_carlo_losses(seed, reps, n_max, n, eps, solver)``: the Monte Carlo kernel (test losses of
  the standard and robust ERMs on nested training sets), with ``chunk_cost`` sizing its chunks;
* ``standard_loss_infinite(n)``: whether the standard model's expected loss is infinite at ``n``.

The kernels and the defaults come from the two families' base classes,
:class:`~tfrobust.theory.classification.ClassificationModel` and
:class:`~tfrobust.theory.regression.RegressionModel`. The settings that build these models from a
config are registered in :mod:`tfrobust.theory.settings`.

Classification (loss ``-y<w, x>``, box ``||w||_inf <= W``):

* :class:`GaussianClassification`: ``y ~ Unif{+-1}``, ``x | y ~ N(y mu, diag(sigma^2))``.
* :class:`BernoulliClassification`: ``y ~ Unif{+-1}``, each ``x_j = y`` with probability
  ``(1 + tau) / 2`` and ``x_j = -y`` otherwise, independently over ``j``.

Regression (squared loss ``(y - <w, x>)^2``, ``w`` unconstrained; ``y = <w*, x> + noise`` with
``noise ~ N(0, noise_std^2)``):

* :class:`GaussianRegression`: ``x ~ N(0, x_std^2 I)``.
* :class:`PoissonRegression`: ``x_j = shift + Poisson(rate)`` independently (the seed's companion
  code uses ``rate = 5, shift = 1``, so that ``x >= 1``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import tensorflow as tf

from tfrobust.theory.classification import (ClassificationModel, bernoulli_expected_loss,
                                             gaussian_expected_loss)
from tfrobust.theory.config import as_vector, check_dim, check_number
from tfrobust.theory.dtype import DTYPE
from tfrobust.theory.regression import RegressionModel


def _split(seed, num: int):
    """``num`` independent stateless seeds from one seed (a shape-[2] int tensor or pair)."""
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=num))


def _signs(seed, shape):
    """Uniform +-1 of ``shape`` (float64)."""
    bits = tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=2, dtype=tf.int64)
    return tf.cast(2 * bits - 1, DTYPE)


@dataclass(frozen=True)
class GaussianClassification(ClassificationModel):
    mu: Sequence[float] = (1.0,)
    sigma: Sequence[float] = (2.0,)
    W: float = 1.0

    def __post_init__(self):
        mu = as_vector("mu", self.mu, len(self.mu) if isinstance(self.mu, (list, tuple)) else 1)
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", as_vector("sigma", self.sigma, len(mu), positive=True))
        object.__setattr__(self, "W", check_number("W", self.W, low=0.0, low_open=True))

    @property
    def dim(self) -> int:
        return len(self.mu)

    def sample(self, seed, shape: Sequence[int]):
        """``(x, y)`` with ``x`` of ``shape + [dim]`` and ``y`` of ``shape``."""
        s_y, s_z = _split(seed, 2)
        y = _signs(s_y, list(shape))
        z = tf.random.stateless_normal(list(shape) + [self.dim], seed=s_z, dtype=DTYPE)
        x = y[..., None] * tf.constant(self.mu, DTYPE) + tf.constant(self.sigma, DTYPE) * z
        return x, y

    def natural_loss(self, w):
        """``E[-y<w, x>] = -<w, mu>`` for ``w`` of shape ``[..., dim]``."""
        return -tf.reduce_sum(w * tf.constant(self.mu, DTYPE), axis=-1)

    def expected_loss(self, n, eps):
        """Exact, by :func:`~tfrobust.theory.classification.gaussian_expected_loss` -> [E, N]."""
        return gaussian_expected_loss(self, n, eps)


@dataclass(frozen=True)
class BernoulliClassification(ClassificationModel):
    tau: float = 0.5
    dim: int = 1
    W: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "tau", check_number("tau", self.tau, low=0.0, high=1.0))
        object.__setattr__(self, "dim", check_dim(self.dim))
        object.__setattr__(self, "W", check_number("W", self.W, low=0.0, low_open=True))

    def sample(self, seed, shape: Sequence[int]):
        s_y, s_u = _split(seed, 2)
        y = _signs(s_y, list(shape))
        u = tf.random.stateless_uniform(list(shape) + [self.dim], seed=s_u, dtype=DTYPE)
        agree = tf.where(u < (1.0 + self.tau) / 2.0, 1.0, -1.0)
        return y[..., None] * tf.cast(agree, DTYPE), y

    def natural_loss(self, w):
        """``E[-y<w, x>] = -tau * sum_j w_j``."""
        return -self.tau * tf.reduce_sum(w, axis=-1)

    def expected_loss(self, n, eps):
        """Exact, by :func:`~tfrobust.theory.classification.bernoulli_expected_loss` -> [E, N]."""
        return bernoulli_expected_loss(self, n, eps)


@dataclass(frozen=True)
class GaussianRegression(RegressionModel):
    dim: int = 1
    x_std: float = 1.0
    noise_std: float = 1.0
    w_star: Sequence[float] = (1.0,)

    def __post_init__(self):
        object.__setattr__(self, "dim", check_dim(self.dim))
        object.__setattr__(self, "x_std", check_number("x_std", self.x_std, low=0.0, low_open=True))
        object.__setattr__(self, "noise_std", check_number("noise_std", self.noise_std, low=0.0))
        object.__setattr__(self, "w_star", as_vector("w_star", self.w_star, self.dim))

    def sample(self, seed, shape: Sequence[int]):
        s_x, s_e = _split(seed, 2)
        x = self.x_std * tf.random.stateless_normal(list(shape) + [self.dim], seed=s_x, dtype=DTYPE)
        noise = self.noise_std * tf.random.stateless_normal(list(shape), seed=s_e, dtype=DTYPE)
        return x, tf.reduce_sum(x * tf.constant(self.w_star, DTYPE), axis=-1) + noise

    def natural_loss(self, w):
        """``E[(y - <w, x>)^2] = x_std^2 ||w - w*||^2 + noise_std^2``."""
        delta = w - tf.constant(self.w_star, DTYPE)
        return self.x_std ** 2 * tf.reduce_sum(delta * delta, axis=-1) + self.noise_std ** 2

    def standard_loss_infinite(self, n: int) -> bool:
        """Whether least squares on ``n`` samples has an infinite expected test loss.

        With Gaussian ``x`` the excess loss is ``noise^2 x_std^2 E[tr((X^T X)^+)]``, and that
        inverse-Wishart moment is finite only when ``|n - dim| >= 2`` (e.g. ``n <= 2`` for ``dim = 1``).
        A Monte Carlo mean at such ``n`` does not converge.
        """
        return self.noise_std > 0 and abs(int(n) - self.dim) <= 1


@dataclass(frozen=True)
class PoissonRegression(RegressionModel):
    dim: int = 1
    rate: float = 5.0
    shift: float = 1.0
    noise_std: float = 1.0
    w_star: Sequence[float] = (1.0,)

    def __post_init__(self):
        object.__setattr__(self, "dim", check_dim(self.dim))
        object.__setattr__(self, "rate", check_number("poisson_rate", self.rate, low=0.0, low_open=True))
        object.__setattr__(self, "shift", check_number("poisson_shift", self.shift))
        object.__setattr__(self, "noise_std", check_number("noise_std", self.noise_std, low=0.0))
        object.__setattr__(self, "w_star", as_vector("w_star", self.w_star, self.dim))

    def sample(self, seed, shape: Sequence[int]):
        s_x, s_e = _split(seed, 2)
        counts = tf.random.stateless_poisson(list(shape) + [self.dim], seed=s_x,
                                             lam=tf.constant(self.rate, DTYPE), dtype=DTYPE)
        x = self.shift + counts
        noise = self.noise_std * tf.random.stateless_normal(list(shape), seed=s_e, dtype=DTYPE)
        return x, tf.reduce_sum(x * tf.constant(self.w_star, DTYPE), axis=-1) + noise

    def natural_loss(self, w):
        """``(w*-w)^T E[x x^T] (w*-w) + noise^2`` with ``E[x x^T] = rate I + (rate+shift)^2 11^T``."""
        delta = tf.constant(self.w_star, DTYPE) - w
        mean = self.rate + self.shift
        return (self.rate * tf.reduce_sum(delta * delta, axis=-1)
                + mean ** 2 * tf.reduce_sum(delta, axis=-1) ** 2 + self.noise_std ** 2)
