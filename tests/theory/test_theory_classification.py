"""The thresholded sign rule is the robust ERM; the exact expected losses match independent sums."""
import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.theory import classification as C
from tfrobust.theory.distributions import BernoulliClassification, GaussianClassification


def brute_force_robust_risk(x, y, w, eps):
    """mean_i max over the vertices of the l_inf ball (a linear loss peaks at a vertex)."""
    d = x.shape[-1]
    vertices = np.array(list(itertools.product([-1.0, 1.0], repeat=d))) * eps  # [V, d]
    losses = -y[:, None] * ((x[:, None, :] + vertices[None]) @ w)  # [n, V]
    return losses.max(axis=1).mean()


def test_closed_form_inner_max_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 3)), rng.choice([-1.0, 1.0], size=9)
    for eps in (0.0, 0.3, 1.7):
        for _ in range(5):
            w = rng.uniform(-1, 1, size=3)
            closed = C.robust_empirical_risk(x, y, w, eps).numpy()
            assert closed == pytest.approx(brute_force_robust_risk(x, y, w, eps), abs=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.4, 1.0, 3.0])
def test_sign_rule_beats_every_grid_point_of_the_box(eps):
    rng = np.random.default_rng(1)
    W = 1.5
    grid = np.linspace(-W, W, 61)
    box = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)  # 3721 points, d=2
    for trial in range(20):
        x = rng.normal(loc=[0.8, -0.3], scale=[2.0, 1.0], size=(7, 2))
        y = rng.choice([-1.0, 1.0], size=7)
        m = (y[:, None] * x).mean(0)
        w = C.robust_classifier(m, eps, W).numpy()
        assert np.all(np.abs(w) <= W)
        best = C.robust_empirical_risk(x, y, w, eps).numpy()
        on_grid = C.robust_empirical_risk(x[None], y[None], box, eps).numpy()
        assert best <= on_grid.min() + 1e-12, (trial, best, on_grid.min())


def test_eps_zero_is_the_standard_model_and_ties_give_zero():
    m = tf.constant([[0.7, -0.2, 0.0, 0.25, -0.25]], tf.float64)
    np.testing.assert_array_equal(C.robust_classifier(m, 0.0, 2.0).numpy(), [[2, -2, 0, 2, -2]])
    # |m_j| = eps exactly is a tie: every w_j in [0, W] sign(m_j) is optimal; the rule picks 0
    np.testing.assert_array_equal(C.robust_classifier(m, 0.25, 2.0).numpy(), [[2, 0, 0, 0, 0]])
    # from sums: Bernoulli lattice ties (|S| = eps n) stay ties despite 0.2 * 5 in floating point
    s = tf.constant([1.0, -1.0, 3.0, -5.0], tf.float64)
    np.testing.assert_array_equal(C.robust_classifier_from_sums(s, 5, 0.2, 1.0).numpy(), [0, 0, 1, -1])


def _phi(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


@pytest.mark.parametrize("n", [1, 4, 20, 1000])
def test_gaussian_exact_loss_matches_an_independent_formula(n):
    dist = GaussianClassification(mu=(1.0, 0.5), sigma=(2.0, 1.0), W=0.7)
    eps = [0.0, 0.3, 0.75, 2.0]
    got = C.gaussian_expected_loss(dist, [n], eps).numpy()[:, 0]
    for e, value in zip(eps, got):
        want = 0.0
        for mu, sigma in zip(dist.mu, dist.sigma):
            s = math.sqrt(n) / sigma
            want -= mu * dist.W * (_phi((mu - e) * s) - _phi((-mu - e) * s))
        assert value == pytest.approx(want, abs=1e-14)


def test_gaussian_exact_loss_limits():
    dist = GaussianClassification(mu=(1.0,), sigma=(2.0,), W=1.0)
    big = C.gaussian_expected_loss(dist, [10 ** 8], [0.0, 0.5, 1.0, 1.5]).numpy()[:, 0]
    # eps < mu: w -> W; eps = mu: P(m > eps) -> 1/2; eps > mu: w -> 0
    np.testing.assert_allclose(big, [-1.0, -1.0, -0.5, 0.0], atol=1e-6)


@pytest.mark.parametrize("tau", [0.1, 0.2, 0.5])
def test_bernoulli_exact_loss_matches_the_binomial_sum(tau):
    dist = BernoulliClassification(tau=tau, dim=3, W=1.0)
    n = np.arange(1, 41)
    eps = [0.0, 0.2, 0.5]
    got = C.bernoulli_expected_loss(dist, n, eps).numpy()
    p = (1 + tau) / 2
    for i, e in enumerate(eps):
        for k, size in enumerate(n):
            ew = 0.0
            for K in range(size + 1):
                s = 2 * K - size  # sum of y x_j
                prob = math.comb(size, K) * p ** K * (1 - p) ** (size - K)
                ew += prob * (np.sign(s) if abs(s) > e * size * (1 + 1e-9) else 0.0)
            assert got[i, k] == pytest.approx(-tau * 3 * ew, abs=1e-12), (e, size)
