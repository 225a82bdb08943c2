import numpy as np
import pytest
import tensorflow as tf

from tfrobust import attacks
from tfrobust.attacks import from_spec
from tfrobust.errors import ConfigError

EPS = 0.15
BOUNDED = [  # (spec, norm, radius)
    ("fgsm:eps=0.1", "linf", 0.1),
    ("pgd:eps=0.1,step_size=0.02,steps=10", "linf", 0.1),
    ("pgd:eps=0.1,step_size=0.02,steps=10,restarts=3", "linf", 0.1),
    ("pgd:eps=0.1,step_size=0.02,steps=10,random_start=false,keep_best=false", "linf", 0.1),
    ("pgd:eps=1.0,step_size=0.25,steps=10,norm=l2", "l2", 1.0),
    ("pgd:eps=1.0,step_size=0.25,steps=10,norm=l2,restarts=2,keep_best=false", "l2", 1.0),
    ("iterated_fgsm:step_size=0.004,steps=30", "linf", 0.12),
]


def distance(x_adv, x, norm):
    d = (x_adv - x).numpy().reshape(len(x), -1)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x).numpy(), -1) == y.numpy()))


@pytest.mark.parametrize("spec,norm,radius", BOUNDED)
def test_attacks_stay_in_their_ball_and_the_box(trained_model, test_batch, spec, norm, radius):
    x, y = test_batch
    x_adv = from_spec(spec)(trained_model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == tf.float32
    assert float(tf.reduce_min(x_adv)) >= 0.0 and float(tf.reduce_max(x_adv)) <= 1.0
    assert distance(x_adv, x, norm).max() <= radius * (1 + 1e-5) + 1e-6
    assert distance(x_adv, x, norm).max() > 0.5 * radius  # it actually moved


@pytest.mark.parametrize("spec", [
    "lbfgs:beta=1.0", "gaussian_noise:std=0.3", "gaussian_blur:std=1.5",
])
def test_unbounded_attacks_stay_in_the_box(trained_model, test_batch, spec):
    x, y = test_batch
    x_adv = from_spec(spec)(trained_model, x, y)
    assert 0.0 <= float(tf.reduce_min(x_adv)) and float(tf.reduce_max(x_adv)) <= 1.0
    assert distance(x_adv, x, "l2").max() > 0


@pytest.mark.parametrize("spec", [
    "fgsm:eps=0", "pgd:eps=0", "pgd:eps=0,norm=l2,step_size=0.1", "pgd:eps=0,restarts=3",
    "iterated_fgsm:step_size=0", "lbfgs:lr=0", "gaussian_noise:std=0", "gaussian_blur:std=0",
])
def test_zero_strength_returns_the_input_unchanged(trained_model, test_batch, spec):
    x, y = test_batch
    np.testing.assert_array_equal(from_spec(spec)(trained_model, x, y).numpy(), x.numpy())


def test_clean_beats_fgsm_beats_pgd(trained_model, test_batch):
    x, y = test_batch
    clean = accuracy(trained_model, x, y)
    fgsm = accuracy(trained_model, attacks.FGSM(eps=EPS)(trained_model, x, y), y)
    pgd = accuracy(trained_model, attacks.PGD(eps=EPS, step_size=EPS / 8, steps=20)(trained_model, x, y), y)
    assert clean > 0.9
    assert clean > fgsm >= pgd
    assert pgd < clean - 0.2


def test_pgd_accuracy_never_rises_with_more_iterations_restarts_or_eps(trained_model, test_batch):
    x, y = test_batch

    def acc(**kw):
        settings = dict(eps=0.05, step_size=0.005, steps=5, restarts=1, seed=7)
        settings.update(kw)
        return accuracy(trained_model, attacks.PGD(**settings)(trained_model, x, y), y)

    by_steps = [acc(steps=s) for s in (1, 2, 5, 10, 20)]
    by_restarts = [acc(restarts=r) for r in (1, 2, 4)]
    by_eps = [acc(eps=e, step_size=max(e / 4, 1e-3), steps=10) for e in (0.0, 0.02, 0.05, 0.1, 0.2)]
    for series in (by_steps, by_restarts, by_eps):
        assert all(b <= a for a, b in zip(series, series[1:])), series
    assert by_steps[-1] < by_steps[0] and by_eps[-1] < by_eps[0]


def test_l2_pgd_is_weaker_at_the_same_numeric_radius_than_linf(trained_model, test_batch):
    # The L-inf ball of radius r contains the L2 ball of radius r: a sanity check on the geometry.
    x, y = test_batch
    linf = accuracy(trained_model, attacks.PGD(eps=0.1, step_size=0.01, steps=20)(trained_model, x, y), y)
    l2 = accuracy(trained_model, attacks.PGD(eps=0.1, step_size=0.01, steps=20, norm="l2")(trained_model, x, y), y)
    assert l2 >= linf


def test_targeted_pgd_reaches_its_targets(trained_model, test_batch):
    x, y = test_batch
    target = (y + 1) % 10
    x_adv = attacks.PGD(eps=0.3, step_size=0.02, steps=30, targeted=True)(trained_model, x, target)
    hits = np.mean(np.argmax(trained_model(x_adv).numpy(), -1) == target.numpy())
    before = np.mean(np.argmax(trained_model(x).numpy(), -1) == target.numpy())
    assert hits > 0.5 > before
    with pytest.raises(ConfigError, match="needs target labels"):
        attacks.PGD(targeted=True)(trained_model, x)


def test_labels_default_to_the_models_predictions(trained_model, test_batch):
    x, y = test_batch
    pred = tf.argmax(trained_model(x), -1)
    attack = attacks.PGD(eps=EPS, step_size=0.01, steps=10, random_start=False)
    np.testing.assert_array_equal(attack(trained_model, x).numpy(), attack(trained_model, x, pred).numpy())
    forced = attacks.PGD(eps=EPS, step_size=0.01, steps=10, random_start=False, predicted_labels=True)
    np.testing.assert_array_equal(forced(trained_model, x, y).numpy(), attack(trained_model, x, pred).numpy())


def test_same_seed_same_draw_and_each_call_draws_anew():
    x = tf.random.uniform((8, 6, 6, 1), seed=1)
    a = attacks.GaussianNoise(std=0.2, seed=3)
    b = attacks.GaussianNoise(std=0.2, seed=3)
    first_a, first_b = a(None, x, None), b(None, x, None)
    np.testing.assert_array_equal(first_a.numpy(), first_b.numpy())
    assert not np.array_equal(first_a.numpy(), a(None, x, None).numpy())  # next call, next draw


def test_blur_keeps_constant_images_and_smooths_edges():
    flat = tf.fill((2, 9, 9, 3), 0.4)
    np.testing.assert_allclose(attacks.GaussianBlur(std=2.0)(None, flat, None).numpy(), 0.4, atol=1e-6)
    step = np.zeros((1, 9, 9, 1), np.float32)
    step[..., 5:, :] = 1.0
    blurred = attacks.GaussianBlur(std=1.0)(None, tf.constant(step), None).numpy()
    assert 0 < blurred[0, 0, 4, 0] < 0.5 < blurred[0, 0, 5, 0] < 1


def test_lbfgs_step_matches_the_documents_update(trained_model, test_batch):
    # x1 = clip(x0 + lr * (grad CE - (1/beta) grad ||x - x0||)); the penalty's gradient is 0 at x0,
    # and the second step is pulled back towards x0 by exactly lr / beta in L2.
    x, y = test_batch
    lr, beta = 0.05, 2.0
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(attacks.per_example_loss(trained_model(x), y))
    g = tape.gradient(loss, x)
    expected = tf.clip_by_value(x + lr * g, 0.0, 1.0)
    one = attacks.LBFGSPenalty(beta=beta, lr=lr, steps=1)(trained_model, x, y)
    np.testing.assert_allclose(one.numpy(), expected.numpy(), atol=1e-6)
    loss_after = tf.reduce_sum(attacks.per_example_loss(trained_model(one), y))
    assert float(loss_after) > float(loss)


def test_iterative_attacks_run_as_one_graph_with_a_compiled_loop(trained_model, test_batch):
    x, y = test_batch
    attack = attacks.PGD(eps=EPS, steps=7, restarts=2)
    for _ in range(3):
        attack(trained_model, x, y)
    attack(trained_model, x[:17], y[:17])  # a smaller last batch does not retrace
    (fn,) = attack._compiled[trained_model].values()
    assert fn.experimental_get_tracing_count() == 1
    graph = fn.get_concrete_function().graph
    assert any(op.type in ("While", "StatelessWhile") for op in graph.get_operations())


def test_bad_attack_settings_fail_clearly():
    with pytest.raises(ConfigError, match="unknown attack 'cw'"):
        from_spec("cw:eps=1")
    with pytest.raises(ConfigError, match="eps must be a finite number >= 0"):
        from_spec("pgd:eps=-0.1")
    with pytest.raises(ConfigError, match="norm must be one of linf, l2"):
        from_spec("pgd:norm=l1")
    with pytest.raises(ConfigError, match="has no option 'epsilon'"):
        from_spec("pgd:epsilon=0.3")
    with pytest.raises(ConfigError, match="not a valid int"):
        from_spec("pgd:steps=ten")
    with pytest.raises(ConfigError, match="steps must be an integer >= 1"):
        attacks.make_attack("pgd", steps=0)


def test_labels_round_trip_through_spec_strings():
    attack = attacks.PGD(eps=0.2, steps=7, norm="l2", random_start=False)
    assert attack.label == "pgd:eps=0.2,steps=7,norm=l2,random_start=false"
    assert from_spec(attack.label) == attack


def test_from_spec_refuses_targeted_attacks_unless_the_caller_gives_targets():
    with pytest.raises(ConfigError, match=r"--attack=pgd:targeted=true: targeted=true needs target classes"):
        from_spec("pgd:targeted=true", flag="attack")
    assert from_spec("pgd:targeted=true", targets=True).targeted
    assert from_spec("pgd", training=True).keep_best is False and from_spec("pgd").keep_best is True


def test_with_radius_moves_pgd_with_its_step_size_and_allows_zero():
    pgd = attacks.PGD(eps=0.1, step_size=0.01, steps=40)
    assert (pgd.with_radius(0.3).eps, pgd.with_radius(0.3).step_size) == (0.3, pytest.approx(0.03))
    zero = pgd.with_radius(0.0)
    assert (zero.eps, zero.step_size, zero.steps) == (0.0, 0.01, 40)
    with pytest.raises(ConfigError, match="eps=0.0 is not allowed"):
        from_spec("apgd:eps=0")  # zero only through with_radius, for the sanity checks
    assert from_spec("apgd:eps=0.1").with_radius(0.0).eps == 0.0
