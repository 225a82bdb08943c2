"""WRM (Sinha et al. 2018, as ATMC evaluates with it): gradient ascent on
gamma * CE(x') - 0.5 ||x' - x||_2^2, optionally projected onto an L-inf ball at the end."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import attacks
from tfrobust.attacks import WRM, from_spec, per_example_loss
from tfrobust.errors import ConfigError


@pytest.fixture(scope="module")
def batch(test_batch):
    x, y = test_batch
    return x[:200], y[:200]


def ce(model, x, y):
    return per_example_loss(model(x, training=False), y).numpy()


def l2(x_adv, x):
    return np.sqrt(((np.asarray(x_adv) - np.asarray(x)) ** 2).reshape(len(x), -1).sum(1))


def linf(x_adv, x):
    return np.abs(np.asarray(x_adv) - np.asarray(x)).reshape(len(x), -1).max(1)


def reference_wrm(model, x, y, gamma, steps, step_size, eps):
    """The update written out eagerly, step by step (no random start)."""
    x_adv = x
    for t in range(steps):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            objective = gamma * tf.reduce_sum(per_example_loss(model(x_adv), y)) \
                - 0.5 * tf.reduce_sum(tf.square(x_adv - x))
        x_adv = tf.clip_by_value(x_adv + step_size / np.sqrt(t + 1) * tape.gradient(objective, x_adv), 0.0, 1.0)
    if eps > 0:
        x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
    return x_adv.numpy()


def test_wrm_raises_the_loss_of_a_trained_model(trained_model, batch):
    x, y = batch
    x_adv = WRM()(trained_model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == tf.float32
    clean, attacked = ce(trained_model, x, y), ce(trained_model, x_adv, y)
    assert attacked.mean() > clean.mean() + 1.0
    assert np.mean(attacked > clean) > 0.95
    assert float(tf.reduce_min(x_adv)) >= 0.0 and float(tf.reduce_max(x_adv)) <= 1.0


@pytest.mark.parametrize("gamma,step_size", [(1.3, 1.0), (1.3, 0.3), (0.5, 1.0)])
def test_wrm_raises_its_lagrangian_and_moves_further_with_larger_gamma(trained_model, batch, gamma, step_size):
    x, y = batch
    attack = WRM(gamma=gamma, step_size=step_size)
    x_adv = attack(trained_model, x, y)
    at_start = gamma * ce(trained_model, x, y)  # the penalty is 0 at x itself
    np.testing.assert_allclose(attack.lagrangian(trained_model, x, x, y).numpy(), at_start, rtol=1e-5, atol=1e-6)
    reached = attack.lagrangian(trained_model, x_adv, x, y).numpy()
    # 1e-6: float32 round-off of a cross-entropy near 1e-5, where confident examples barely move
    assert np.mean(reached >= at_start - 1e-6) >= 0.99
    assert reached.mean() > at_start.mean() + 0.5
    stronger = WRM(gamma=4 * gamma, step_size=step_size)(trained_model, x, y)
    assert l2(stronger, x).mean() > l2(x_adv, x).mean() > 0


def test_wrm_matches_the_update_written_out(trained_model, batch):
    x, y = batch
    x, y = x[:40], y[:40]
    for settings in (dict(gamma=1.3, steps=4, step_size=1.0, eps=0.0),
                     dict(gamma=2.0, steps=3, step_size=0.5, eps=0.1)):
        got = WRM(**settings)(trained_model, x, y).numpy()
        np.testing.assert_allclose(got, reference_wrm(trained_model, x, y, **settings), atol=2e-5)


@pytest.mark.parametrize("random_start", [False, True])
def test_eps_bounds_the_output_in_linf_and_the_box(trained_model, batch, random_start):
    x, y = batch
    eps = 0.1
    attack = WRM(eps=eps, random_start=random_start)
    assert attack.radius == eps and WRM().radius is None and attack.norm == "linf"
    x_adv = attack(trained_model, x, y).numpy()
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert linf(x_adv, x).max() <= eps + 1e-6
    assert linf(x_adv, x).max() > 0.5 * eps  # it moved
    free = WRM()(trained_model, x, y).numpy()
    assert linf(free, x).max() > eps  # without eps the same attack goes further
    assert ce(trained_model, x_adv, y).mean() > ce(trained_model, x, y).mean()


def test_same_seed_same_output(trained_model, batch):
    x, y = batch
    seed = tf.constant([3, 4], tf.int64)
    a, b = WRM(eps=0.1, random_start=True, steps=3), WRM(eps=0.1, random_start=True, steps=3)
    np.testing.assert_array_equal(a(trained_model, x, y, seed=seed).numpy(), b(trained_model, x, y, seed=seed).numpy())
    np.testing.assert_array_equal(WRM(seed=5, eps=0.1, random_start=True, steps=3)(trained_model, x, y).numpy(),
                                  WRM(seed=5, eps=0.1, random_start=True, steps=3)(trained_model, x, y).numpy())
    other = a(trained_model, x, y, seed=tf.constant([3, 5], tf.int64)).numpy()
    assert not np.array_equal(other, a(trained_model, x, y, seed=seed).numpy())  # the start is random
    fixed = WRM(steps=3)  # no random start: the seed does not matter
    np.testing.assert_array_equal(fixed(trained_model, x, y, seed=seed).numpy(),
                                  fixed(trained_model, x, y, seed=tf.constant([9, 9], tf.int64)).numpy())


def test_labels_follow_the_gradient_attack_conventions(trained_model, batch):
    x, y = batch
    pred = tf.argmax(trained_model(x), -1)
    attack = WRM(steps=5)
    np.testing.assert_array_equal(attack(trained_model, x).numpy(), attack(trained_model, x, pred).numpy())
    forced = WRM(steps=5, predicted_labels=True)
    np.testing.assert_array_equal(forced(trained_model, x, y).numpy(), attack(trained_model, x, pred).numpy())
    target = (y + 1) % 10
    aimed = WRM(gamma=5.0, targeted=True)(trained_model, x, target)
    assert ce(trained_model, aimed, target).mean() < ce(trained_model, x, target).mean()


def test_radius_zero_returns_the_input_and_the_loop_is_compiled(trained_model, batch):
    x, y = batch
    zero = WRM(eps=0.1, random_start=True).with_radius(0.0)
    assert zero.eps == 0.0 and zero.radius is None
    np.testing.assert_array_equal(zero(trained_model, x, y).numpy(), x.numpy())
    assert WRM(eps=0.1).with_radius(0.2) == WRM(eps=0.2)
    attack = WRM(steps=4)
    attack(trained_model, x, y)
    attack(trained_model, x[:17], y[:17])  # a smaller batch does not retrace
    (fn,) = attack._compiled[trained_model].values()
    assert fn.experimental_get_tracing_count() == 1
    graph = fn.get_concrete_function().graph
    assert any(op.type in ("While", "StatelessWhile") for op in graph.get_operations())


@pytest.mark.parametrize("settings,message", [
    (dict(gamma=0), r"attack 'wrm': gamma=0 is not allowed; gamma must be a finite number > 0"),
    (dict(gamma=-1.3), r"attack 'wrm': gamma=-1\.3 is not allowed"),
    (dict(gamma=float("inf")), r"attack 'wrm': gamma=inf is not allowed"),
    (dict(steps=0), r"attack 'wrm': steps=0 is not allowed; steps must be an integer >= 1"),
    (dict(steps=2.5), r"attack 'wrm': steps=2\.5 is not allowed"),
    (dict(eps=-1), r"attack 'wrm': eps=-1 is not allowed; eps must be a finite number >= 0"),
    (dict(eps="a"), r"attack 'wrm': eps='a' is not allowed"),
    (dict(step_size=0), r"attack 'wrm': step_size=0 is not allowed; step_size must be a finite number > 0"),
    (dict(random_start="yes"), r"attack 'wrm': random_start='yes' is not allowed; random_start must be true or false"),
    (dict(targeted=True, predicted_labels=True), r"attack 'wrm': targeted=True needs target labels"),
])
def test_bad_settings_fail_naming_the_setting(settings, message):
    with pytest.raises(ConfigError, match=message) as info:
        WRM(**settings)
    assert type(info.value) is ConfigError


def test_spec_strings_and_the_registry():
    attack = from_spec("wrm:gamma=2,steps=5")
    assert isinstance(attack, WRM) and (attack.gamma, attack.steps) == (2, 5)
    assert (attack.step_size, attack.eps, attack.random_start) == (1.0, 0.0, False)
    assert WRM().gamma == 1.3 and WRM().steps == 15
    assert "wrm" in attacks.names() and attacks.make_attack("wrm", eps=0.3) == WRM(eps=0.3)
    bounded = WRM(gamma=2.0, eps=0.3, random_start=True)
    assert bounded.label == "wrm:gamma=2.0,eps=0.3,random_start=true"
    assert from_spec(bounded.label) == bounded
    with pytest.raises(ConfigError, match="has no option 'lam'"):
        from_spec("wrm:lam=1")
    with pytest.raises(ConfigError, match=r"--attack=wrm:gamma=0: attack 'wrm': gamma=0\.0 is not allowed"):
        from_spec("wrm:gamma=0", flag="attack")


def test_the_sanity_report_checks_wrm_at_zero_and_half_radius_only(trained_model, batch):
    """WRM's penalty, not eps, sets its strength: one step of length eps and the whole box do not
    bound its accuracy, so those two checks are skipped rather than raised as warnings."""
    from tfrobust.sanity import check_evaluation

    x, y = batch
    wrm = WRM(gamma=1.3, steps=5, eps=0.3)
    report = check_evaluation(trained_model, x[:64], y[:64], {"wrm": wrm}, {}, num_classes=10)
    status = {c["check"]: c["status"] for c in report["checks"] if c["attack"]}
    assert status == {"zero_radius": "ok", "monotone": "ok", "single_step": "skipped", "large_radius": "skipped"}
    assert not report["warnings"]
