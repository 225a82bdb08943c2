r"""Standard and eps-robust empirical risk minimizers for linear classification, and their exact
expected test losses.

Setting: loss :math:`\ell(x, y; w) = -y\langle w, x\rangle`, parameters in the box
:math:`\|w\|_\infty \le W`, an :math:`\ell_\infty` adversary :math:`\|\delta_i\|_\infty \le \varepsilon`
that perturbs each training point separately.

Derivation of the robust minimizer (the min-max reduces to a thresholded sign rule)
-------------------------------------------------------------------------------------
1. *Inner maximisation, one point.* For fixed :math:`w`,
   :math:`\max_{\|\delta\|_\infty\le\varepsilon} -y\langle w, x+\delta\rangle
   = -y\langle w, x\rangle + \varepsilon \max_{\|\delta\|_\infty\le 1}\langle -y w, \delta\rangle
   = -y\langle w, x\rangle + \varepsilon\|w\|_1`
   (Hölder: the dual norm of :math:`\ell_\infty` is :math:`\ell_1`; attained at
   :math:`\delta = -\varepsilon y\,\mathrm{sign}(w)`).
2. *Average.* The adversary acts on each point independently, so the max of the sum is the sum of
   the maxima: with :math:`m = \frac1n\sum_i y_i x_i`, the robust empirical risk is
   :math:`R_\varepsilon(w) = -\langle w, m\rangle + \varepsilon\|w\|_1 = \sum_j
   \left(-w_j m_j + \varepsilon|w_j|\right)`.
3. *Outer minimisation.* The objective and the box both separate over coordinates. On
   :math:`w_j\in[0, W]` the term is :math:`w_j(\varepsilon - m_j)`, on :math:`w_j\in[-W, 0]` it is
   :math:`|w_j|(\varepsilon + m_j)`: linear in :math:`|w_j|`, so the minimum sits at an end point.
   Hence :math:`w_j = W\,\mathrm{sign}(m_j)` if :math:`|m_j| > \varepsilon` and :math:`w_j = 0` if
   :math:`|m_j| < \varepsilon`. At :math:`|m_j| = \varepsilon` every point of
   :math:`[0, W]\,\mathrm{sign}(m_j)` is a minimizer; we pick :math:`0` (ties count as "not above the
   threshold"; they have probability 0 under the Gaussian model but not under the Bernoulli model,
   where :math:`m_j` lives on the lattice :math:`\frac1n\{-n, -n+2, \dots, n\}`).
4. *Standard model.* :math:`\varepsilon = 0` gives :math:`w_j = W\,\mathrm{sign}(m_j)` (0 when
   :math:`m_j = 0`), so the robust rule at :math:`\varepsilon = 0` *is* the standard model.

Exact expected natural loss
---------------------------
The natural test loss of :math:`w` is :math:`-\langle w, \mathbb E[yx]\rangle`.

* Gaussian: :math:`yx = \mu + y\sigma z` with :math:`z\sim N(0, I)` independent of :math:`y`, so
  :math:`m_j \sim N(\mu_j, \sigma_j^2/n)` and
  :math:`\mathbb E[w_j] = W\left[\Phi\!\left(\tfrac{(\mu_j-\varepsilon)\sqrt n}{\sigma_j}\right)
  - \Phi\!\left(\tfrac{(-\mu_j-\varepsilon)\sqrt n}{\sigma_j}\right)\right]`,
  :math:`\mathbb E[L] = -\sum_j \mu_j\,\mathbb E[w_j]`.
* Bernoulli: :math:`n m_j = 2K - n` with :math:`K\sim\mathrm{Bin}(n, (1+\tau)/2)`, so
  :math:`\mathbb E[w_j] = W[P(2K-n > \varepsilon n) - P(2K-n < -\varepsilon n)]` (binomial tails via
  the regularized incomplete beta function), :math:`\mathbb E[L] = -\tau\sum_j\mathbb E[w_j]`.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import tensorflow as tf

from tfrobust.theory.datamodel import DataModel
from tfrobust.theory.dtype import DTYPE

if TYPE_CHECKING:
    from tfrobust.theory.distributions import BernoulliClassification, GaussianClassification

# |m_j| within this (relative) distance of eps counts as a tie and gives w_j = 0.
TIE_TOL = 1e-12


def threshold(eps):
    """The cut-off that ``|m_j|`` must exceed: ``eps`` plus the tie tolerance."""
    eps = tf.convert_to_tensor(eps, DTYPE)
    return eps + TIE_TOL * (1.0 + eps)


def robust_classifier(m, eps, W: float):
    """The eps-robust ERM ``w_j = W sign(m_j) 1{|m_j| > eps}`` for ``m = mean(y_i x_i)``.

    ``m``: ``[..., d]``; ``eps`` broadcasts against ``m[..., :1]``. ``eps = 0`` is the standard model.
    """
    m = tf.convert_to_tensor(m, DTYPE)
    keep = tf.abs(m) > threshold(eps)
    return tf.where(keep, W * tf.sign(m), tf.zeros_like(m))


def robust_classifier_from_sums(s, n, eps, W: float):
    """The same rule from the sums ``s = sum_i y_i x_i`` over ``n`` points: ``|s| > eps n``.

    Comparing sums keeps lattice ties exact (Bernoulli data: ``s`` is an integer).
    """
    s = tf.convert_to_tensor(s, DTYPE)
    keep = tf.abs(s) > threshold(eps) * tf.cast(n, DTYPE)
    return tf.where(keep, W * tf.sign(s), tf.zeros_like(s))


def robust_empirical_risk(x, y, w, eps):
    """Closed-form robust empirical risk ``-<w, mean(y x)> + eps ||w||_1`` (``x``: [..., n, d])."""
    m = tf.reduce_mean(tf.convert_to_tensor(y, DTYPE)[..., None] * x, axis=-2)
    return -tf.reduce_sum(w * m, axis=-1) + eps * tf.reduce_sum(tf.abs(w), axis=-1)


def _normal_cdf(z):
    return 0.5 * tf.math.erfc(-z / math.sqrt(2.0))


def gaussian_expected_loss(dist: GaussianClassification, n, eps):
    """Exact ``E[natural test loss]`` of the eps-robust ERM; ``n``: [N], ``eps``: [E] -> [E, N]."""
    n = tf.cast(tf.reshape(n, [1, -1, 1]), DTYPE)
    eps = tf.reshape(tf.convert_to_tensor(eps, DTYPE), [-1, 1, 1])
    mu = tf.constant(dist.mu, DTYPE)
    sigma = tf.constant(dist.sigma, DTYPE)
    scale = tf.sqrt(n) / sigma
    ew = dist.W * (_normal_cdf((mu - eps) * scale) - _normal_cdf((-mu - eps) * scale))
    return -tf.reduce_sum(mu * ew, axis=-1)


def _binomial_upper_tail(k, n, p):
    """``P(K >= k)`` for ``K ~ Bin(n, p)``, elementwise over float tensors ``k``, ``n``."""
    inside = (k >= 1.0) & (k <= n)
    a = tf.where(inside, k, tf.ones_like(k))
    b = tf.where(inside, n - k + 1.0, tf.ones_like(k))
    tail = tf.math.betainc(a, b, tf.fill(tf.shape(k), tf.constant(p, DTYPE)))
    return tf.where(k < 1.0, tf.ones_like(k), tf.where(k > n, tf.zeros_like(k), tail))


def bernoulli_expected_loss(dist: BernoulliClassification, n, eps):
    """Exact ``E[natural test loss]`` of the eps-robust ERM under the Bernoulli model -> [E, N]."""
    n = tf.cast(tf.reshape(n, [1, -1]), DTYPE)
    thr = tf.reshape(threshold(eps), [-1, 1])
    p = (1.0 + dist.tau) / 2.0
    # 2K - n > thr n  <=>  K >= floor(n (1 + thr) / 2) + 1
    k_hi = tf.floor(n * (1.0 + thr) / 2.0) + 1.0
    # 2K - n < -thr n  <=>  K <= ceil(n (1 - thr) / 2) - 1
    k_lo = tf.math.ceil(n * (1.0 - thr) / 2.0) - 1.0
    n = tf.broadcast_to(n, tf.shape(k_hi))
    p_pos = _binomial_upper_tail(k_hi, n, p)
    p_neg = 1.0 - _binomial_upper_tail(k_lo + 1.0, n, p)
    return -dist.tau * dist.dim * dist.W * (p_pos - p_neg)


class ClassificationModel(DataModel):
    """What the classification data models share: the robust ERM is the sign rule above, so a
    training set enters only through ``s = sum_i y_i x_i``, and the loss is bounded.

    A subclass provides ``W``, ``dim``, ``sample(seed, shape)``, ``natural_loss(w)`` and, where it
    has a closed form, ``expected_loss(n, eps)``.
    """

    kind = "classification"  # the loss is bounded by ``W ||E[yx]||_1``: every expectation is finite

    def chunk_cost(self, n_max: int, n_sizes: int, n_eps: int, solver: str) -> int:
        """Float64 numbers in one repetition's largest intermediate tensor of the kernel."""
        return max(n_eps * n_sizes * self.dim, n_max * self.dim)

    def monte_carlo_losses(self, seed, reps, n_max: int, n, eps, solver: str = "auto"):
        """Monte Carlo kernel: natural test losses of the standard and each eps-robust ERM on ``reps``
        nested training sets of the sizes ``n`` -> ``[R, N]``, ``[E, R, N]``. (No ``solver``: the
        sign rule is exact.)"""
        x, y = self.sample(seed, [reps, n_max])
        sums = tf.gather(tf.cumsum(y[..., None] * x, axis=1), n - 1, axis=1)  # [R, N, d]
        counts = tf.cast(n, DTYPE)[None, :, None]
        w_std = robust_classifier_from_sums(sums, counts, 0.0, self.W)
        w_rob = robust_classifier_from_sums(sums[None], counts[None], eps[:, None, None, None], self.W)
        return self.natural_loss(w_std), self.natural_loss(w_rob)
