"""The vectorised Monte Carlo: agrees with the exact curves, is reproducible, pairs its models."""
import numpy as np
import pytest

from tfrobust.theory import classification as C
from tfrobust.theory import montecarlo as MC
from tfrobust.theory.distributions import (BernoulliClassification, GaussianClassification,
                                           GaussianRegression, PoissonRegression)

GAUSS = GaussianClassification(mu=(1.0,), sigma=(2.0,), W=1.0)
EPS = [0.2, 0.5, 1.0, 2.0]
N = [1, 2, 5, 10, 20]


@pytest.fixture(scope="module")
def gaussian_curves():
    return MC.simulate(GAUSS, N, EPS, reps=20_000, seed=0)


def test_gaussian_monte_carlo_within_3_se_of_the_exact_curve(gaussian_curves):
    c = gaussian_curves
    exact = C.gaussian_expected_loss(GAUSS, N, [0.0] + EPS).numpy()
    z_std = (c.loss_std - exact[0]) / c.loss_std_se
    z_rob = (c.loss_rob - exact[1:]) / c.loss_rob_se
    z_gap = (c.gap - (exact[1:] - exact[0])) / c.gap_se
    z = np.concatenate([z_std.ravel(), z_rob.ravel(), z_gap.ravel()])
    assert np.all(np.abs(z) < 3.0), np.abs(z).max()
    # and the standard errors are honest, not inflated: z^2 averages about 1
    assert 0.4 < np.mean(z ** 2) < 1.8


def test_same_seed_same_numbers_other_seed_other_numbers(gaussian_curves):
    again = MC.simulate(GAUSS, N, EPS, reps=20_000, seed=0)
    np.testing.assert_array_equal(again.gap, gaussian_curves.gap)
    other = MC.simulate(GAUSS, N, EPS, reps=20_000, seed=1)
    assert not np.array_equal(other.gap, gaussian_curves.gap)


def test_chunk_merging_is_exact():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(2, 1000, 5)) + np.arange(5)  # [E, R, N]
    moments, outer = MC._Moments(), MC._Moments()
    for start, stop in [(0, 10), (10, 400), (400, 1000)]:
        chunk = values[:, start:stop]
        mean, m2 = (t.numpy() for t in MC._moments(chunk, 1))
        moments.add(stop - start, mean, m2)
        mean, m2 = (t.numpy() for t in MC._outer_moments(chunk))
        outer.add_outer(stop - start, mean, m2)
    np.testing.assert_allclose(moments.mean, values.mean(1), rtol=1e-12)
    np.testing.assert_allclose(moments.se(), values.std(1, ddof=1) / np.sqrt(1000), rtol=1e-12)
    cov = np.stack([np.cov(values[e].T) / 1000 for e in range(2)])
    np.testing.assert_allclose(outer.cov_of_mean(), cov, rtol=1e-10)


def test_chunk_size_does_not_bias():
    one = MC.simulate(GAUSS, N, EPS, reps=3000, seed=2, chunk=3000)
    three = MC.simulate(GAUSS, N, EPS, reps=3000, seed=2, chunk=1000)
    assert one.reps == three.reps == 3000
    assert np.all(np.abs(one.gap - three.gap) < 4 * np.hypot(one.gap_se, three.gap_se) + 1e-12)


def test_gap_is_paired_eps_zero_gives_exactly_zero():
    c = MC.simulate(BernoulliClassification(tau=0.3), list(range(1, 31)), [0.0, 0.2], reps=4000, seed=0)
    np.testing.assert_array_equal(c.gap[0], 0.0)
    np.testing.assert_array_equal(c.gap_se[0], 0.0)
    np.testing.assert_array_equal(c.loss_rob[0], c.loss_std)
    # covariance of the gap means is symmetric with the squared SEs on its diagonal
    np.testing.assert_allclose(c.gap_cov[1], c.gap_cov[1].T)
    np.testing.assert_allclose(np.sqrt(np.diagonal(c.gap_cov[1])), c.gap_se[1])


def test_bernoulli_monte_carlo_matches_exact():
    dist = BernoulliClassification(tau=0.5, dim=2)
    n = [1, 3, 4, 8, 15]
    c = MC.simulate(dist, n, [0.2], reps=20_000, seed=3)
    exact = C.bernoulli_expected_loss(dist, n, [0.0, 0.2]).numpy()
    assert np.all(np.abs(c.loss_std - exact[0]) < 3 * c.loss_std_se + 1e-12)
    assert np.all(np.abs(c.loss_rob[0] - exact[1]) < 3 * c.loss_rob_se[0] + 1e-12)


@pytest.mark.parametrize("dist", [GaussianRegression(), PoissonRegression()])
def test_regression_monte_carlo_sane(dist):
    n = [3, 5, 10, 20]
    c = MC.simulate(dist, n, [0.0, 0.5, 3.0], reps=3000, seed=0)
    np.testing.assert_array_equal(c.gap[0], 0.0)
    # the standard model's test loss falls towards the noise floor noise_std^2 = 1 as n grows
    assert np.all(np.diff(c.loss_std) < 0) and np.all(c.loss_std > 1.0)
    # no model beats the Bayes risk
    assert np.all(c.loss_rob > 1.0)
    # least squares has the smallest *training* squared loss, not test loss, but at n = 20
    # the robust model with a large eps is worse than least squares
    assert c.gap[2, -1] > 10 * c.gap_se[2, -1]


def test_standard_loss_infinite_flags_the_inverse_chi_square_cases():
    assert [GaussianRegression(dim=1).standard_loss_infinite(n) for n in (1, 2, 3)] == [True, True, False]
    assert [GaussianRegression(dim=3).standard_loss_infinite(n) for n in (1, 2, 4, 5)] == [False, True, True, False]
    assert not GaussianRegression(noise_std=0.0).standard_loss_infinite(1)
    assert not PoissonRegression().standard_loss_infinite(1)
