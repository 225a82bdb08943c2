"""The setting registry: every setting's data model brings an expected loss and a Monte Carlo kernel
that agree, the driver runs any registered setting, unknown names list the known ones."""
import dataclasses
import math

import numpy as np
import pytest

from tfrobust.errors import ConfigError
from tfrobust.theory import gengap, montecarlo, results
from tfrobust.theory.config import GapConfig, paper_config
from tfrobust.theory.settings import SETTINGS, GaussianSetting

PAPER_ORDER = ["gaussian", "bernoulli", "gaussian_regression", "poisson_regression"]


def test_registry_lists_the_papers_settings_in_order_and_rejects_unknown_names():
    assert SETTINGS.names() == PAPER_ORDER
    for make in (lambda: SETTINGS.get("logistic"), lambda: GapConfig("logistic", (0.1,), (1,), 10)):
        with pytest.raises(ConfigError) as info:
            make()
        assert str(info.value) == ("setting='logistic' is not allowed; allowed: gaussian, bernoulli, "
                                   "gaussian_regression, poisson_regression")


@pytest.mark.parametrize("name", PAPER_ORDER)
def test_each_setting_names_real_options_and_valid_paper_grids(name):
    setting = SETTINGS.get(name)
    fields = {f.name for f in dataclasses.fields(GapConfig)}
    assert set(setting.options) <= fields and set(setting.required) <= set(setting.options)
    assert set(setting.paper) <= fields
    config = paper_config(name, reps=10)
    variants = setting.variants(config)
    # one curve family per tau for the settings that take tau, else one with tau = None
    expected_taus = list(config.tau) if "tau" in setting.options else [None]
    assert [tau for tau, _ in variants] == expected_taus
    assert gengap.distributions(config) == [dist for _, dist in variants]


def test_checking_a_config_loads_no_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from tfrobust.theory.config import paper_config; "
            "paper_config('bernoulli', reps=10); print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr


def test_option_users_come_from_the_registry():
    assert SETTINGS.users("tau") == ["bernoulli"]
    assert SETTINGS.users("W") == ["gaussian", "bernoulli"]
    assert SETTINGS.users("noise_std") == ["gaussian_regression", "poisson_regression"]
    assert SETTINGS.users("seed") == []


def _gaussian_regression_std_loss(dist, n):
    """d = 1: w - w* = sum(x e) / sum(x^2), so the excess loss is noise^2 x_std^2 E[1/sum x^2] and
    sum x^2 / x_std^2 is chi-square(n): E[1/chi2_n] = 1/(n - 2)."""
    return dist.noise_std ** 2 * (1.0 + 1.0 / (n - 2))


def _poisson_regression_std_loss(dist, n, support=60):
    """d = 1: the excess loss is E[x^2] noise^2 E[1/S], S = sum of n draws of x^2; the law of S by
    convolving the law of x^2 (x = shift + Poisson(rate), truncated where the tail is < 1e-20)."""
    k = np.arange(support)
    pmf = np.exp(k * math.log(dist.rate) - dist.rate - np.array([math.lgamma(v + 1) for v in k]))
    squares = (dist.shift + k) ** 2
    one = np.zeros(int(squares.max()) + 1)
    np.add.at(one, squares.astype(int), pmf)
    law = np.array([1.0])
    for _ in range(n):
        law = np.convolve(law, one)
    s = np.arange(len(law))
    inverse = float(np.sum(law[1:] / s[1:]))
    second_moment = dist.rate + (dist.rate + dist.shift) ** 2
    return dist.noise_std ** 2 * (1.0 + second_moment * inverse)


# Where a data model has no closed-form expected loss, an independent formula for the standard
# model's (n chosen where the loss has a finite variance, so the standard error is honest).
STANDARD_LOSS = {"gaussian_regression": (_gaussian_regression_std_loss, [6, 10, 20]),
                 "poisson_regression": (_poisson_regression_std_loss, [1, 2, 3])}


@pytest.mark.parametrize("name", PAPER_ORDER)
def test_expected_loss_and_monte_carlo_kernel_agree(name):
    overrides = dict(tau=(0.3,)) if name == "bernoulli" else {}
    config = paper_config(name, reps=20_000, eps=(0.0, 0.25, 1.0), n=(1, 3, 8, 15), **overrides)
    for _, dist in SETTINGS.get(name).variants(config):
        exact = dist.expected_loss(list(config.n), list(config.eps))
        if exact is not None:
            mc = montecarlo.simulate(dist, config.n, config.eps, config.reps, seed=1)
            exact = exact.numpy()
            assert exact.shape == (3, 4)
            z = np.abs(mc.loss_rob - exact) / np.maximum(mc.loss_rob_se, 1e-300)
            z_std = np.abs(mc.loss_std - exact[0]) / mc.loss_std_se
            assert z.max() < 4.0 and z_std.max() < 4.0, (z, z_std)
            continue
        assert name in STANDARD_LOSS, f"{name}: no closed form and no reference to check the kernel"
        formula, sizes = STANDARD_LOSS[name]
        mc = montecarlo.simulate(dist, sizes, [0.0, 0.5], 3000, seed=1)
        want = np.array([formula(dist, n) for n in sizes])
        assert np.all(np.abs(mc.loss_std - want) < 4 * mc.loss_std_se), (mc.loss_std, want, mc.loss_std_se)
        np.testing.assert_array_equal(mc.loss_rob[0], mc.loss_std)  # eps = 0 is the standard model
        assert not any(dist.standard_loss_infinite(n) for n in sizes)


def test_gaussian_regression_reference_formula_is_right_at_a_known_point():
    # guard for the test's own formula: n = 3, noise 1 gives 1 + 1/(3 - 2) = 2
    dist = SETTINGS.get("gaussian_regression").variants(paper_config("gaussian_regression", reps=1))[0][1]
    assert _gaussian_regression_std_loss(dist, 3) == 2.0
    poisson = SETTINGS.get("poisson_regression").variants(paper_config("poisson_regression", reps=1))[0][1]
    # n = 1: E[x^2] E[1/x^2] >= 1 (Jensen), and x >= 1 bounds E[1/x^2] by 1
    assert 2.0 < _poisson_regression_std_loss(poisson, 1) < 1.0 + 5 + 36


def test_the_driver_runs_a_newly_registered_setting_without_knowing_it(monkeypatch):
    class Renamed(GaussianSetting):
        """The Gaussian data model under another name, with no regime."""

        def paper_regime(self, config, tau, eps):
            return None

    monkeypatch.setitem(SETTINGS._entries, "renamed_gaussian", Renamed())
    common = dict(reps=500, eps=(0.0, 0.5), n=(1, 4, 9), exact_horizon=50)
    ours = gengap.run(GapConfig(setting="renamed_gaussian", **common))
    theirs = gengap.run(GapConfig(setting="gaussian", **common))
    np.testing.assert_array_equal(ours.variants[0].mc.gap, theirs.variants[0].mc.gap)
    np.testing.assert_array_equal(ours.variants[0].exact_gap, theirs.variants[0].exact_gap)
    assert [repr(s.shape) for s in ours.shapes] == [repr(s.shape) for s in theirs.shapes]  # nan == nan
    # what differs is what the new setting says differently: here, the paper's regime
    regimes = [row["paper_regime"] for row in results.shape_rows(theirs) if row["eps"] == 0.5]
    assert set(regimes) == {"weak"}
    assert {row["paper_regime"] for row in results.shape_rows(ours)} == {None}
