"""Carlini-Wagner L2 and DeepFool: minimum-norm attacks checked against a linear model's analytic
answer, on the trained model, and for their settings."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import from_spec
from tfrobust.attacks.base import distance
from tfrobust.attacks.cw import CarliniWagnerL2
from tfrobust.attacks.deepfool import DeepFool
from tfrobust.attacks.losses import margin
from tfrobust.errors import ConfigError

N = 100  # trained-model examples attacked
FAST_CW = dict(binary_steps=5, steps=30, initial_const=0.1, learning_rate=0.05)


def dist(x_adv, x, norm):
    return distance(tf.constant(x_adv), tf.constant(x), norm).numpy()


def predict(model, x):
    return model(x).numpy().argmax(1)


@pytest.fixture(scope="module")
def linear():
    """A fixed 2-class linear model on 4x4x1 inputs, z_1 - z_0 = w.(x - 0.5), and 16 inputs inside
    [0.28, 0.72] at L2 distance 0.1..0.3 from its boundary: the answer is |w.(x - 0.5)| / ||w||_q."""
    rng = np.random.default_rng(0)
    d, n = 16, 16
    w = rng.normal(size=d).astype("float32")
    centre = np.full(d, 0.5, "float32")
    model = keras.Sequential([keras.layers.Flatten(input_shape=(4, 4, 1)), keras.layers.Dense(2)])
    model.layers[1].set_weights([np.stack([np.zeros(d), w], 1).astype("float32"),
                                 np.array([0.0, -w @ centre], "float32")])
    x = centre + rng.uniform(-0.05, 0.05, size=(n, d))
    x += (rng.uniform(0.1, 0.3, n) * rng.choice([-1, 1], n))[:, None] * w / np.linalg.norm(w)
    x = x.astype("float32").reshape(n, 4, 4, 1)
    f = x.reshape(n, -1) @ w - w @ centre
    y = (f > 0).astype("int64")
    assert (predict(model, x) == y).all() and 0.25 < x.min() and x.max() < 0.75
    return model, x, y, np.abs(f), w


@pytest.fixture(scope="module")
def batch(test_batch):
    x, y = test_batch
    return x[:N].numpy(), y[:N].numpy()


# ---- the linear model: analytic answers -----------------------------------------------------
@pytest.mark.parametrize("norm,dual", [("l2", 2), ("linf", 1)])
def test_deepfool_reaches_the_linear_boundary_in_one_iteration(linear, norm, dual):
    model, x, y, f, w = linear
    attack = DeepFool(norm=norm)
    x_adv, passes = attack.run(model, x, y)
    x_adv = x_adv.numpy()
    analytic = f / np.linalg.norm(w, ord=dual)
    d = dist(x_adv, x, norm)
    assert (d >= analytic).all()
    assert (d <= analytic * (1 + attack.overshoot) * (1 + 1e-3)).all()
    assert (predict(model, x_adv) != y).all()
    # One iteration: the clean pass, one linearisation (1 other class: 1 backward), one check.
    np.testing.assert_array_equal(passes.numpy(), [3 * len(x), len(x)])


def test_cw_finds_the_linear_minimum(linear):
    model, x, y, f, w = linear
    x_adv, passes = CarliniWagnerL2().run(model, x, y)
    x_adv = x_adv.numpy()
    analytic = f / np.linalg.norm(w)
    d = dist(x_adv, x, "l2")
    assert (predict(model, x_adv) != y).all()
    assert (d >= analytic * (1 - 1e-4)).all() and (d <= analytic * 1.1).all()
    # Closer than DeepFool, whose overshoot puts it 2% past the boundary.
    assert (d < dist(DeepFool()(model, x, y).numpy(), x, "l2")).all()
    forward, backward = passes.numpy()
    assert backward > 0 and forward == backward + len(x)  # one clean pass, then forward+backward


def test_cw_more_search_steps_never_move_farther(trained_model, batch):
    """The first search steps run alike, and the closest adversarial point over all is kept."""
    x, y = batch
    short = CarliniWagnerL2(**{**FAST_CW, "binary_steps": 3})(trained_model, x, y).numpy()
    long = CarliniWagnerL2(**FAST_CW)(trained_model, x, y).numpy()
    found = (short != x).reshape(len(x), -1).any(1)
    assert found.sum() > 10 and ((long != x).reshape(len(x), -1).any(1) >= found).all()
    d_short, d_long = dist(short, x, "l2")[found], dist(long, x, "l2")[found]
    assert (d_long <= d_short).all() and (d_long < d_short).mean() > 0.5


def test_cw_confidence_gives_that_margin(linear):
    model, x, y, _, _ = linear
    x_adv = CarliniWagnerL2(confidence=2.0, **FAST_CW)(model, x, y)
    assert (margin(model(x_adv), y).numpy() <= -2.0 + 1e-3).all()


# ---- the trained model -----------------------------------------------------------------------
def test_both_fool_the_trained_model_and_cw_is_not_much_farther(trained_model, batch):
    x, y = batch
    clean_wrong = predict(trained_model, x) != y
    results = {}
    for attack in (DeepFool(), DeepFool(norm="linf"), CarliniWagnerL2()):
        x_adv, passes = attack.run(trained_model, x, y)
        x_adv = x_adv.numpy()
        assert x_adv.shape == x.shape and x_adv.dtype == np.float32
        assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
        assert passes.numpy()[0] > 0 and passes.numpy()[1] > 0
        np.testing.assert_array_equal(x_adv[clean_wrong], x[clean_wrong])  # already misclassified
        fooled = predict(trained_model, x_adv) != y
        np.testing.assert_array_equal(x_adv[~fooled], x[~fooled])  # not fooled: x back
        assert fooled.mean() >= (0.9 if attack.name == "cw_l2" else 0.98), attack.label
        results[attack.label] = (dist(x_adv, x, "l2"), fooled & ~clean_wrong)
    (d_df, ok_df), (d_cw, ok_cw) = results["deepfool"], results["cw_l2"]
    both = ok_df & ok_cw
    # Measured: 1.02 vs 0.76. CW's 100 Adam steps barely move the pixels at exactly 0 or 1 (half
    # of these images' pixels), which DeepFool moves freely.
    assert d_cw[both].mean() <= 1.5 * d_df[both].mean()


@pytest.mark.parametrize("attack,norm,eps", [
    (DeepFool(), "l2", 0.7), (DeepFool(norm="linf"), "linf", 0.1), (CarliniWagnerL2(**FAST_CW), "l2", 0.7),
])
def test_eps_keeps_exactly_the_results_within_it(trained_model, batch, attack, norm, eps):
    x, y = batch
    free = attack(trained_model, x, y).numpy()
    bounded_attack = dataclasses.replace(attack, eps=eps)
    assert bounded_attack.radius == eps and attack.radius is None
    bounded = bounded_attack(trained_model, x, y).numpy()
    assert bounded.min() >= 0.0 and bounded.max() <= 1.0
    assert dist(bounded, x, norm).max() <= eps * (1 + 1e-5)
    within = dist(free, x, norm) <= eps
    assert 0 < within.sum() < len(x)  # the budget matters
    np.testing.assert_array_equal(bounded[within], free[within])
    np.testing.assert_array_equal(bounded[~within], x[~within])


@pytest.mark.parametrize("attack", [DeepFool(), CarliniWagnerL2(**FAST_CW)])
def test_zero_radius_returns_the_input(trained_model, batch, attack):
    x, y = batch
    np.testing.assert_array_equal(attack.with_radius(0)(trained_model, x, y).numpy(), x)


@pytest.mark.parametrize("attack", [DeepFool(norm="linf", steps=5), CarliniWagnerL2(**FAST_CW)])
def test_same_seed_same_output_and_labels_default_to_predictions(trained_model, batch, attack):
    x, y = batch
    seed = tf.constant([3, 4], tf.int64)
    first, passes = attack.run(trained_model, x, y, seed=seed)
    again, passes_again = attack.run(trained_model, x, y, seed=seed)
    np.testing.assert_array_equal(first.numpy(), again.numpy())
    np.testing.assert_array_equal(passes.numpy(), passes_again.numpy())
    pred = predict(trained_model, x)
    unlabeled, passes_unlabeled = attack.run(trained_model, x, None, seed=seed)
    labeled, passes_labeled = attack.run(trained_model, x, pred, seed=seed)
    np.testing.assert_array_equal(unlabeled.numpy(), labeled.numpy())
    # The pass that finds the labels is counted.
    np.testing.assert_array_equal(passes_unlabeled.numpy(), passes_labeled.numpy() + [len(x), 0])


def test_deepfool_caps_candidates_at_the_classes(trained_model, batch):
    x, y = batch
    capped, passes = DeepFool(candidates=50, steps=3).run(trained_model, x, y)
    ten, passes_ten = DeepFool(candidates=10, steps=3).run(trained_model, x, y)
    np.testing.assert_array_equal(capped.numpy(), ten.numpy())
    np.testing.assert_array_equal(passes.numpy(), passes_ten.numpy())
    two = DeepFool(candidates=2, steps=3).run(trained_model, x, y)[1].numpy()
    assert two[1] * 9 <= passes.numpy()[1]  # 1 backward per example-iteration instead of 9


def test_targeted_cw_reaches_its_targets(trained_model, batch):
    x, y = batch
    x, y = x[:20], y[:20]
    target = (y + 1) % 10
    x_adv = CarliniWagnerL2(targeted=True, **FAST_CW)(trained_model, x, target).numpy()
    moved = (x_adv != x).reshape(len(x), -1).any(1)
    assert moved.mean() >= 0.8
    np.testing.assert_array_equal(predict(trained_model, x_adv)[moved], target[moved])


# ---- settings ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,settings", [
    (CarliniWagnerL2, dict(eps=0)), (CarliniWagnerL2, dict(eps=-1.0)), (CarliniWagnerL2, dict(steps=0)),
    (CarliniWagnerL2, dict(binary_steps=0)), (CarliniWagnerL2, dict(learning_rate=0)),
    (CarliniWagnerL2, dict(learning_rate=-0.01)), (CarliniWagnerL2, dict(initial_const=0)),
    (CarliniWagnerL2, dict(confidence=-1.0)), (CarliniWagnerL2, dict(steps=2.5)),
    (DeepFool, dict(eps=0)), (DeepFool, dict(eps=-0.1)), (DeepFool, dict(steps=0)),
    (DeepFool, dict(norm="l1")),
    (DeepFool, dict(overshoot=-0.1)), (DeepFool, dict(candidates=1)), (DeepFool, dict(targeted=True)),
])
def test_bad_settings_are_refused_naming_them(cls, settings):
    with pytest.raises(ConfigError, match=next(iter(settings))):
        cls(**settings)


@pytest.mark.parametrize("setting", ["initial_const", "confidence", "learning_rate", "eps"])
def test_cw_settings_beyond_float32_are_refused(setting):
    """Each becomes a float32 constant: at 1e39 it would be inf, the loss NaN, and the attack would
    find nothing while the sanity checks stay silent."""
    with pytest.raises(ConfigError, match=f"attack 'cw_l2': {setting}=1e\\+39 is not allowed; {setting} must be "
                                          "finite in float32"):
        CarliniWagnerL2(**{setting: 1e39})
    assert getattr(CarliniWagnerL2(**{setting: 1e30}), setting) == 1e30  # large, but a float32


def test_settings_and_classes():
    assert CarliniWagnerL2.norm == "l2" and CarliniWagnerL2().radius is None
    assert "norm" not in CarliniWagnerL2().settings()
    assert CarliniWagnerL2(eps=1.0).radius == 1.0 and DeepFool(norm="linf", eps=0.1).radius == 0.1
    DeepFool().check_classes(2)
    with pytest.raises(ConfigError, match="2 classes"):
        DeepFool().check_classes(1)


def test_an_optional_radius_parses_from_a_spec():
    # eps is Optional[float]: a spec gives it as a number, or none (no radius)
    assert from_spec("cw_l2:eps=0.5").eps == 0.5 and from_spec("cw_l2:eps=0.5").radius == 0.5
    assert from_spec("deepfool:eps=0.25").eps == 0.25
    assert from_spec("cw_l2:eps=none").eps is None
    with pytest.raises(ConfigError, match="eps='abc' is not a valid float"):
        from_spec("cw_l2:eps=abc")


def test_none_is_only_for_optional_settings():
    with pytest.raises(ConfigError, match="steps='none' is not a valid int"):
        from_spec("cw_l2:steps=none")
