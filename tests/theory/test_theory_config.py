"""GapConfig checks every option and names it, with the value and what is allowed."""
import pytest

from tfrobust.errors import ConfigError
from tfrobust.theory.config import GapConfig, paper_config


def make(**overrides):
    options = dict(setting="gaussian", eps=(0.0, 0.5), n=(1, 2, 3), reps=10)
    options.update(overrides)
    return GapConfig(**options)


@pytest.mark.parametrize("overrides,message", [
    (dict(setting="logistic"), "setting='logistic' is not allowed; allowed: gaussian, bernoulli"),
    (dict(eps=(0.1, -0.2)), "eps=-0.2 is not allowed: allowed range is [0.0, inf]"),
    (dict(eps=(0.1, 0.1)), "eps=[0.1, 0.1] repeats a value"),
    (dict(eps=()), "eps=[] is not allowed"),
    (dict(reps=0), "reps=0 is not allowed: allowed values are integers >= 1"),
    (dict(reps=2.5), "reps=2.5 is not allowed"),
    (dict(n=(0, 1)), "n=0 is not allowed: allowed values are integers >= 1"),
    (dict(seed=-1), "seed=-1 is not allowed"),
    (dict(dim=0), "dim=0 is not allowed"),
    (dict(sigma=(0.0,)), "sigma=[0.0] is not allowed: allowed values are finite numbers > 0"),
    (dict(dim=2, mu=(1.0, 2.0, 3.0)), "mu=[1.0, 2.0, 3.0] has 3 entries; allowed: 1 or dim=2"),
    (dict(W=0.0), "W=0.0 is not allowed: allowed range is (0.0, inf]"),
    (dict(tau=(0.5,)), "tau applies only to setting='bernoulli'"),
    (dict(setting="bernoulli"), "tau=[] is not allowed for setting='bernoulli'"),
    (dict(setting="bernoulli", tau=(1.2,)), "tau=1.2 is not allowed: allowed range is [0.0, 1.0]"),
    (dict(setting="gaussian_regression", solver="cvx"), "solver='cvx' is not allowed"),
    (dict(setting="gaussian_regression", solver="exact1d", dim=2), "solver='exact1d' is not allowed with dim=2"),
    (dict(setting="poisson_regression", poisson_rate=-1.0), "poisson_rate=-1.0 is not allowed"),
    (dict(noise_std=float("nan")), "noise_std=nan is not allowed"),
])
def test_bad_options_name_the_option_value_and_what_is_allowed(overrides, message):
    with pytest.raises(ConfigError) as info:
        make(**overrides)
    assert message in str(info.value)


def test_good_config_is_normalised():
    c = make(n=(3, 1, 2), dim=2, mu=(1.0,))
    assert c.n == (1, 2, 3) and c.mu == (1.0, 1.0) and c.sigma == (2.0, 2.0)
    assert paper_config("bernoulli").tau == (0.1, 0.2, 0.5, 0.7)
    assert paper_config("gaussian").n == tuple(range(1, 21))


def test_paper_regime():
    from tfrobust.theory.config import paper_regime

    gauss = make()
    assert [paper_regime(gauss, None, e) for e in (0.5, 0.99, 1.0, 2.0)] == ["weak", "weak", "strong", "strong"]
    mixed = make(dim=3, mu=(1.0, 0.5, 0.0))
    assert [paper_regime(mixed, None, e) for e in (0.2, 0.7, 1.0)] == ["weak", "mixed", "strong"]
    bern = make(setting="bernoulli", tau=(0.1, 0.5))
    assert paper_regime(bern, 0.1, 0.2) == "strong" and paper_regime(bern, 0.5, 0.2) == "weak"
    assert paper_regime(make(setting="poisson_regression"), None, 0.5) is None
