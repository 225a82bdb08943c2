"""Bad settings of every attack class: one row per constructor call, each a ConfigError naming the
attack, the setting, its value and what is allowed (never a TypeError from a comparison)."""
import numpy as np
import pytest

from tfrobust import attacks
from tfrobust.attacks import FGSM, PGD, GaussianBlur, GaussianNoise, IteratedFGSM, LBFGSPenalty, from_spec
from tfrobust.errors import ConfigError

NAN, INF = float("nan"), float("inf")

ROWS = [
    # FGSM (and what every gradient attack shares: seed, targeted, predicted_labels)
    (lambda: FGSM(eps="a"), r"attack 'fgsm': eps='a' is not allowed; eps must be a finite number >= 0"),
    (lambda: FGSM(eps=None), r"attack 'fgsm': eps=None is not allowed"),
    (lambda: FGSM(eps=True), r"attack 'fgsm': eps=True is not allowed"),
    (lambda: FGSM(eps=[0.1]), r"attack 'fgsm': eps=\[0\.1\] is not allowed"),
    (lambda: FGSM(eps=10 ** 400), r"attack 'fgsm': eps=1000+ is not allowed"),
    (lambda: FGSM(seed=-1), r"attack 'fgsm': seed=-1 is not allowed; seed must be an integer in 0\.\.2\*\*63-1"),
    (lambda: FGSM(seed=True), r"attack 'fgsm': seed=True is not allowed"),
    (lambda: FGSM(seed=2 ** 63), r"attack 'fgsm': seed=9223372036854775808 is not allowed"),
    (lambda: FGSM(targeted="yes"), r"attack 'fgsm': targeted='yes' is not allowed; targeted must be true or false"),
    # PGD
    (lambda: PGD(steps=2.5), r"attack 'pgd': steps=2\.5 is not allowed; steps must be an integer >= 1"),
    (lambda: PGD(steps=True), r"attack 'pgd': steps=True is not allowed"),
    (lambda: PGD(steps=2 ** 31), r"attack 'pgd': steps=2147483648 is not allowed; .*at most 2\*\*31-1"),
    (lambda: PGD(eps=NAN), r"attack 'pgd': eps=nan is not allowed; eps must be a finite number >= 0"),
    (lambda: PGD(eps="a"), r"attack 'pgd': eps='a' is not allowed"),
    (lambda: PGD(step_size=None), r"attack 'pgd': step_size=None is not allowed; step_size must be a finite number > 0"),
    (lambda: PGD(step_size=0), r"attack 'pgd': step_size=0 is not allowed"),
    (lambda: PGD(norm=2), r"attack 'pgd': norm=2 is not allowed; norm must be one of linf, l2"),
    (lambda: PGD(random_start="yes"), r"attack 'pgd': random_start='yes' is not allowed; "
                                      r"random_start must be true or false"),
    (lambda: PGD(random_start=0), r"attack 'pgd': random_start=0 is not allowed"),
    (lambda: PGD(keep_best=None), r"attack 'pgd': keep_best=None is not allowed; keep_best must be true or false"),
    (lambda: PGD(restarts=1.0), r"attack 'pgd': restarts=1\.0 is not allowed; restarts must be an integer >= 1"),
    (lambda: PGD(predicted_labels=1), r"attack 'pgd': predicted_labels=1 is not allowed"),
    # IteratedFGSM
    (lambda: IteratedFGSM(step_size="a"), r"attack 'iterated_fgsm': step_size='a' is not allowed; "
                                          r"step_size must be a finite number >= 0"),
    (lambda: IteratedFGSM(step_size=INF), r"attack 'iterated_fgsm': step_size=inf is not allowed"),
    (lambda: IteratedFGSM(steps=0), r"attack 'iterated_fgsm': steps=0 is not allowed"),
    (lambda: IteratedFGSM(steps=1.5), r"attack 'iterated_fgsm': steps=1\.5 is not allowed"),
    # LBFGSPenalty
    (lambda: LBFGSPenalty(beta="a"), r"attack 'lbfgs': beta='a' is not allowed; beta must be a finite number > 0"),
    (lambda: LBFGSPenalty(beta=0), r"attack 'lbfgs': beta=0 is not allowed"),
    (lambda: LBFGSPenalty(lr=None), r"attack 'lbfgs': lr=None is not allowed; lr must be a finite number >= 0"),
    (lambda: LBFGSPenalty(steps=False), r"attack 'lbfgs': steps=False is not allowed"),
    # corruptions
    (lambda: GaussianNoise(std=-1), r"attack 'gaussian_noise': std=-1 is not allowed; std must be a finite number >= 0"),
    (lambda: GaussianNoise(std="a"), r"attack 'gaussian_noise': std='a' is not allowed"),
    (lambda: GaussianNoise(std=True), r"attack 'gaussian_noise': std=True is not allowed"),
    (lambda: GaussianBlur(std=None), r"attack 'gaussian_blur': std=None is not allowed"),
    (lambda: GaussianBlur(std=1e300).check_input((28, 28, 1)),
     r"attack 'gaussian_blur': std=1e\+300 needs a kernel of radius \d+ pixels, too large for 28x28 images"),
    # through the registry and spec strings
    (lambda: attacks.make_attack("pgd", random_start="yes"), r"attack 'pgd': random_start='yes' is not allowed"),
    (lambda: from_spec("pgd:steps=99999999999999999999"), r"attack 'pgd': steps=99999999999999999999 is not allowed"),
    (lambda: from_spec("gaussian_blur:std=1e9").check_input((10, 10, 1)),
     r"std=1000000000\.0 needs a kernel of radius 3000000000 pixels, too large for 10x10 images"),
    # calling a gradient attack without a model
    (lambda: PGD()(None, np.zeros((1, 4, 4, 1), np.float32), np.zeros(1, np.int64)),
     r"attack 'pgd': model=None is not allowed; it needs a Keras model"),
]


@pytest.mark.parametrize("call,message", ROWS, ids=[f"row{i}" for i in range(len(ROWS))])
def test_bad_attack_setting_raises_config_error(call, message):
    with pytest.raises(ConfigError, match=message) as info:
        call()
    assert type(info.value) is ConfigError


def test_corruptions_still_run_without_a_model():
    x = np.full((2, 5, 5, 1), 0.5, np.float32)
    np.testing.assert_allclose(GaussianBlur(std=1.0)(None, x).numpy(), x, atol=1e-6)  # constant stays constant
    noisy = GaussianNoise(std=0.1, seed=3)(None, x).numpy()
    assert 0 < np.abs(noisy - x).max() <= 1 and noisy.min() >= 0 and noisy.max() <= 1


def test_python_numbers_of_either_type_are_accepted():
    """An int where a float is expected is fine (eps=1 from a flag), and the largest counts pass."""
    assert FGSM(eps=1).radius == 1 and PGD(eps=0, step_size=1, steps=2 ** 31 - 1).steps == 2 ** 31 - 1
    assert FGSM(seed=2 ** 63 - 1).seed == 2 ** 63 - 1
    assert LBFGSPenalty(beta=np.float64(2.0)).beta == 2.0  # a NumPy float64 is a Python float


@pytest.mark.parametrize("spec", [None, 3, ["pgd"]])
def test_a_spec_that_is_not_a_string_is_named(spec):
    with pytest.raises(ConfigError, match="is not a string; write name"):
        from_spec(spec)
