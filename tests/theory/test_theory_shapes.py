"""Gap shapes: the classifier on known curves, and the paper's two regimes on the exact and Monte
Carlo curves."""
import numpy as np
import pytest

from tfrobust.theory import classification as C
from tfrobust.theory import gengap, shapes
from tfrobust.theory.config import paper_config
from tfrobust.theory.distributions import BernoulliClassification, GaussianClassification

N = np.arange(1, 21)


@pytest.mark.parametrize("curve,regime,peak", [
    (1 - np.exp(-N / 5.0), shapes.INCREASING, 20),
    (N * np.exp(-N / 6.0), shapes.INCREASE_THEN_DECREASE, 6),
    (np.exp(-N / 5.0), shapes.DECREASING, 1),
    (np.zeros(20), shapes.FLAT, 1),
])
def test_known_exact_curves(curve, regime, peak):
    shape = shapes.classify_gap(N, curve)
    assert shape.regime == regime and shape.peak_n == peak
    assert shape.unimodal


def test_noise_decides_significance():
    hump = 0.01 * N * np.exp(-N / 8.0)  # peaks at n=8, drops by 0.0066 by n=20
    assert shapes.classify_gap(N, hump, se=np.full(20, 0.0005)).regime == shapes.INCREASE_THEN_DECREASE
    assert shapes.classify_gap(N, hump, se=np.full(20, 0.01)).regime == shapes.FLAT
    # a covariance that says the points move together makes the same drop significant again
    cov = np.full((20, 20), 0.01 ** 2) + np.eye(20) * 1e-8
    assert shapes.classify_gap(N, hump, cov=cov).regime == shapes.INCREASE_THEN_DECREASE


def test_exact_gaussian_gap_shows_both_regimes_of_the_paper():
    dist = GaussianClassification(mu=(1.0,), sigma=(2.0,), W=1.0)
    eps = [0.0, 0.2, 0.5, 0.9, 1.0, 2.0]
    far = np.arange(1, 20_001)
    loss = C.gaussian_expected_loss(dist, far, eps).numpy()
    gap = loss - loss[0]
    got = {e: shapes.classify_gap(far, gap[i]) for i, e in enumerate(eps)}
    # weak adversary (eps < mu): increases, then decreases (to 0), one peak
    assert got[0.2].regime == got[0.5].regime == got[0.9].regime == shapes.INCREASE_THEN_DECREASE
    assert (got[0.2].peak_n, got[0.5].peak_n, got[0.9].peak_n) == (12, 14, 24)
    assert got[0.5].peak_gap == pytest.approx(0.11589, abs=1e-4)
    assert all(got[e].unimodal and got[e].last_gap < 1e-6 for e in (0.2, 0.5, 0.9))
    # strong adversary (eps >= mu): keeps increasing, to mu W / 2 at eps = mu and mu W beyond
    assert got[1.0].regime == got[2.0].regime == shapes.INCREASING
    assert got[1.0].last_gap == pytest.approx(0.5, abs=1e-3) and got[2.0].last_gap == pytest.approx(1.0)
    assert got[0.0].regime == shapes.FLAT
    # on the paper's n = 1..20 the eps = 0.9 peak is out of sight: increasing there
    assert shapes.classify_gap(N, gap[3][:20]).regime == shapes.INCREASING


def test_exact_bernoulli_gap_regimes():
    far = np.arange(1, 3001)
    regimes = {}
    for tau in (0.1, 0.5, 0.7):
        loss = C.bernoulli_expected_loss(BernoulliClassification(tau=tau), far, [0.0, 0.2]).numpy()
        regimes[tau] = shapes.classify_gap(far, loss[1] - loss[0])
    assert regimes[0.1].regime == shapes.INCREASING  # tau < eps: strong adversary
    assert regimes[0.5].regime == regimes[0.7].regime == shapes.INCREASE_THEN_DECREASE
    assert regimes[0.5].peak_n == regimes[0.7].peak_n == 5


def test_monte_carlo_regimes_on_the_papers_gaussian_grid():
    results = gengap.run(paper_config("gaussian", reps=30_000, eps=(0.0, 0.5, 2.0), exact_horizon=2000))
    mc = {r.eps: r.shape for r in results.shapes if r.source == "monte_carlo"}
    assert mc[0.5].regime == shapes.INCREASE_THEN_DECREASE and 12 <= mc[0.5].peak_n <= 16
    assert mc[2.0].regime == shapes.INCREASING
    assert mc[0.0].regime == shapes.FLAT
    assert results.max_abs_z < 4.0
