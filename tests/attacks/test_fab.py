"""FAB and FAB-T: the exact hyperplane projections, the boundary of a linear model, invariants on
the trained model, pass counts and settings."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks.fab import FAB, FABTargeted, projection_l2, projection_linf
from tfrobust.errors import ConfigError


def distance(x_adv, x, norm):
    d = (np.asarray(x_adv) - np.asarray(x)).reshape(len(x), -1)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def predictions(model, x):
    return np.argmax(model(x).numpy(), -1)


# ---- projections onto {w.x = b} within the box [0, 1]^d ----------------------------------------
# (t, w, b, linf answer, l2 answer), worked out by hand.
HAND = [
    ([.5, .5], [1, 2], .6, [-.3, -.3], [-.18, -.36]),  # w.t = 1.5: lower it by 0.9
    ([.5, .5], [1, -1], .4, [.2, -.2], [.2, -.2]),  # w.t below b: move the other way
    ([.1, .5], [1, 1], .45, [-.075, -.075], [-.075, -.075]),  # inside the box
    ([.1, .5], [1, 1], .2, [-.1, -.3], [-.1, -.3]),  # both: the box binds (free: -.15 / -.2 each)
    ([.05, .5], [2, 1], .2, [-.05, -.3], [-.05, -.3]),  # the box binds, unequal weights
    ([.5, .5, .5], [2, 0, 1], 1., [-1 / 6, 0, -1 / 6], [-.2, 0, -.1]),  # w_i = 0 does not move
    ([.1, .1], [1, 1], -1., [-.1, -.1], [-.1, -.1]),  # unreachable: the nearest corner
    ([.3, .6], [1, 1], .9, [0, 0], [0, 0]),  # already on the hyperplane
]


@pytest.mark.parametrize("norm,project", [("linf", projection_linf), ("l2", projection_l2)])
def test_projections_match_hand_computed_values(norm, project):
    t, w, b, linf, l2 = (np.array([row[i] for row in HAND[:5]], np.float32) for i in range(5))
    got = project(tf.constant(t), tf.constant(w), tf.constant(b)).numpy()
    np.testing.assert_allclose(got, linf if norm == "linf" else l2, atol=1e-6)
    for row in HAND[5:]:  # other lengths, one at a time
        t, w, b = (np.array([v], np.float32) for v in row[:3])
        got = project(tf.constant(t), tf.constant(w), tf.constant(b)).numpy()[0]
        np.testing.assert_allclose(got, row[3] if norm == "linf" else row[4], atol=1e-6)


def test_projections_are_optimal_on_random_rows():
    """Optimality certificates: under L-inf no point of the box within 0.999 of the found radius
    reaches the hyperplane; under L2 the answer has the KKT form clip(-s w, -t, 1 - t)."""
    rng = np.random.default_rng(0)
    n, dim = 60, 30
    t = rng.uniform(0, 1, (n, dim))
    w = rng.normal(size=(n, dim)) * (rng.uniform(size=(n, dim)) > 0.1)
    b = (w * t).sum(1) + np.abs(w).sum(1) * rng.uniform(-0.8, 0.8, n)
    args = [tf.constant(v, tf.float32) for v in (t, w, b)]
    c = (w * t).sum(1) - b
    w_low = w * np.sign(c)[:, None]  # lowering w_low.x by |c| reaches the hyperplane
    room = np.where(w_low < 0, 1 - t, t)
    reachable = (np.abs(w_low) * room).sum(1) > np.abs(c) * (1 + 1e-4)
    corner = np.where(w_low < 0, 1 - t, -t) * (w != 0)
    assert 10 < reachable.sum() < n  # both kinds of rows are tested

    d = projection_linf(*args).numpy().astype(np.float64)
    assert np.all(t + d >= -1e-6) and np.all(t + d <= 1 + 1e-6)
    np.testing.assert_allclose(((t + d) * w).sum(1)[reachable], b[reachable], atol=1e-4)
    radius = 0.999 * np.abs(d).max(1)
    best_drop = (np.abs(w_low) * np.minimum(radius[:, None], room)).sum(1)
    assert np.all(best_drop[reachable] < np.abs(c[reachable]))
    np.testing.assert_allclose(d[~reachable], corner[~reachable], atol=1e-6)

    d = projection_l2(*args).numpy().astype(np.float64)
    np.testing.assert_allclose(((t + d) * w).sum(1)[reachable], b[reachable], atol=1e-4)
    free = (t + d > 1e-6) & (t + d < 1 - 1e-6) & (w != 0)
    s = -(d * w_low * free).sum(1) / np.maximum((w_low ** 2 * free).sum(1), 1e-12)
    np.testing.assert_allclose(d[reachable], np.clip(-s[:, None] * w_low, -t, 1 - t)[reachable], atol=1e-5)
    np.testing.assert_allclose(d[~reachable], corner[~reachable], atol=1e-6)


# ---- a linear model: the smallest perturbation is known -----------------------------------------
def linear_model(classes):
    rng = np.random.default_rng(classes)
    weights = rng.normal(size=(16, classes)).astype(np.float32)
    offsets = np.linspace(0.3, -0.3, classes).astype(np.float32)  # logits near x = 0.5
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(classes)(keras.layers.Flatten()(inputs)))
    model.layers[-1].set_weights([weights, offsets - 0.5 * weights.sum(0)])
    x = (0.5 + 0.02 * rng.uniform(-1, 1, (6, 4, 4, 1))).astype(np.float32)
    return model, weights, x


def boundary_distance(model, weights, x, norm):
    """min over k != y of |z_k - z_y| / ||w_k - w_y||_dual: exact for a linear model."""
    logits = model(x).numpy()
    y = logits.argmax(1)
    out = []
    for i in range(len(x)):
        out.append(min(
            abs(logits[i, k] - logits[i, y[i]])
            / np.linalg.norm(weights[:, k] - weights[:, y[i]], 1 if norm == "linf" else 2)
            for k in range(logits.shape[1]) if k != y[i]))
    return np.array(out), y


def norm_dependent_model():
    """3 classes whose nearest boundary depends on the norm: from x = 0.5, z_0 - z_1 = 0.2 with
    w_1 - w_0 = 4 e_1 (L-inf and L2 distance 0.05) and z_0 - z_2 = 0.4 with w_2 - w_0 = 1 (L-inf
    distance 0.025, L2 distance 0.1). Taking the closest hyperplane in the wrong norm fails."""
    weights = np.zeros((16, 3), np.float32)
    weights[0, 1], weights[:, 2] = 4.0, 1.0
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    model.layers[-1].set_weights([weights, np.array([0.0, -2.2, -8.4], np.float32)])
    x = (0.5 + 0.004 * np.random.default_rng(1).uniform(-1, 1, (6, 4, 4, 1))).astype(np.float32)
    return model, weights, x


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("cls,build", [
    (FAB, lambda: linear_model(3)), (FAB, norm_dependent_model), (FABTargeted, lambda: linear_model(2)),
])
def test_fab_finds_the_boundary_of_a_linear_model(norm, cls, build):
    model, weights, x = build()
    exact, y = boundary_distance(model, weights, x, norm)
    settings = dict(target_classes=1) if cls is FABTargeted else {}
    x_adv = cls(eps=0.5, norm=norm, steps=50, **settings)(model, x)
    found = distance(x_adv, x, norm)
    assert np.all(predictions(model, x_adv) != y)
    # FAB overshoots by eta and backs off by beta: it ends just past the boundary
    assert np.all(found >= exact * (1 - 1e-3)) and np.all(found <= exact * 1.02), found / exact


def test_fab_t_takes_the_targets_in_the_order_of_the_clean_logits():
    """On the model above (class 0 predicted, class 1 second, class 2 third) under L-inf: the
    target of rank 2 (class 1) is 0.05 away, beyond eps = 0.04; the target of rank 3 (class 2)
    is 0.025 away. One target does not fool within eps; two do, reaching class 2."""
    model, _, x = norm_dependent_model()
    np.testing.assert_array_equal(predictions(model, x), 0)
    one = FABTargeted(eps=0.04, steps=30, target_classes=1)(model, x).numpy()
    np.testing.assert_array_equal(one, x)
    two = FABTargeted(eps=0.04, steps=30, target_classes=2)(model, x).numpy()
    np.testing.assert_array_equal(predictions(model, two), 2)
    assert np.all(np.abs(distance(two, x, "linf") / 0.025 - 1) < 0.2)


def test_points_not_fooled_within_eps_get_the_input_back():
    model, weights, x = linear_model(3)
    exact, y = boundary_distance(model, weights, x, "linf")
    eps = float(np.median(exact))
    x_adv = FAB(eps=eps, steps=50)(model, x).numpy()
    fooled = predictions(model, x_adv) != y
    assert 0 < fooled.sum() < len(x)
    np.testing.assert_array_equal(fooled, exact * 1.02 <= eps)
    np.testing.assert_array_equal(x_adv[~fooled], x[~fooled])


# ---- the trained model ---------------------------------------------------------------------------
@pytest.mark.parametrize("attack,norm", [
    (FAB(eps=0.05, steps=8, restarts=2), "linf"),
    (FAB(eps=0.5, norm="l2", steps=8), "l2"),
    (FABTargeted(eps=0.05, steps=8, target_classes=2, restarts=2), "linf"),
    (FABTargeted(eps=0.5, norm="l2", steps=8, target_classes=2), "l2"),
])
def test_outputs_in_ball_and_box_and_repeatable(trained_model, test_batch, attack, norm):
    x, y = test_batch
    seed = tf.constant([3, 4], tf.int64)
    x_adv, passes = attack.run(trained_model, x, y, seed=seed)
    x_adv = x_adv.numpy()
    assert x_adv.shape == x.shape and x_adv.dtype == np.float32
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    dist = distance(x_adv, x, norm)
    assert dist.max() <= attack.eps * (1 + 1e-5)
    fooled = predictions(trained_model, x_adv) != y.numpy()
    clean_wrong = predictions(trained_model, x) != y.numpy()
    assert np.all(fooled[dist > 0])  # a point that moved fools the model
    assert (fooled & ~clean_wrong).sum() > 10  # and it does fool
    np.testing.assert_array_equal(attack.run(trained_model, x, y, seed=seed)[0].numpy(), x_adv)
    # every run costs 1 forward per example attacked and per step 2 forward and 1 (fab_t) or 10
    # (fab: the Jacobian) backward; fab_t also ranks the clean logits once per target
    forward, backward = passes.numpy()
    targeted = isinstance(attack, FABTargeted)
    per_step = 1 if targeted else 10
    first_run = (~clean_wrong).sum()
    assert (forward - len(x)) * attack.steps * per_step == backward * (2 * attack.steps + targeted)
    assert backward >= first_run * attack.steps * per_step
    if attack.restarts == 1 and not targeted:
        assert backward == first_run * attack.steps * per_step
    else:  # later restarts or targets ran on the examples still robust
        assert backward > first_run * attack.steps * per_step


def test_restarts_start_at_a_seeded_random_point(trained_model, test_batch):
    """A run from a random start (the restarts after the first) depends on its seed only: on this
    model the restarts of the whole attack seldom fool more, so one run is compared directly."""
    x, y = test_batch
    x, y = x[:50], y[:50]
    attack = FAB(eps=0.1, steps=1)
    run = tf.function(lambda seed, random: attack.single_run(trained_model, x, y, None, random, seed)[:2])
    a, dist_a = (v.numpy() for v in run(tf.constant([1, 2], tf.int64), tf.constant(True)))
    b, _ = (v.numpy() for v in run(tf.constant([1, 2], tf.int64), tf.constant(True)))
    c, _ = (v.numpy() for v in run(tf.constant([5, 6], tf.int64), tf.constant(True)))
    d, dist_d = (v.numpy() for v in run(tf.constant([5, 6], tf.int64), tf.constant(False)))
    np.testing.assert_array_equal(a, b)
    found = (dist_a < 1e10) & (dist_d < 1e10)
    assert found.sum() > 10
    assert np.all(np.any((a != c)[found], axis=(1, 2, 3)))
    assert np.all(np.any((a != d)[found], axis=(1, 2, 3)))  # not the run from the input
    np.testing.assert_allclose(dist_a[found], distance(a, x, "linf")[found], rtol=1e-6)


def test_more_steps_never_find_a_farther_point(trained_model, test_batch):
    """Without random starts a run's trajectory is fixed; it keeps its closest adversarial point,
    so the distance found can only shrink with more steps."""
    x, y = test_batch
    dists = []
    for steps in (4, 8, 16):
        x_adv = FAB(eps=1.0, steps=steps)(trained_model, x, y)
        fooled = predictions(trained_model, x_adv) != y.numpy()
        dists.append(np.where(fooled, distance(x_adv, x, "linf"), np.inf))
    assert np.isfinite(dists[0]).sum() > 100
    assert np.all(dists[1] <= dists[0]) and np.all(dists[2] <= dists[1])
    assert np.any(dists[2] < dists[0])


def test_fab_t_lowers_accuracy_well_below_clean(trained_model, test_batch):
    x, y = test_batch
    clean = np.mean(predictions(trained_model, x) == y.numpy())
    x_adv = FABTargeted(eps=0.15, steps=10, target_classes=3)(trained_model, x, y)
    robust = np.mean(predictions(trained_model, x_adv) == y.numpy())
    assert clean > 0.9 and robust < clean - 0.5


def test_zero_radius_returns_the_input(trained_model, test_batch):
    x, y = test_batch
    attack = FABTargeted(steps=3, target_classes=2).with_radius(0)
    np.testing.assert_array_equal(attack(trained_model, x, y).numpy(), x.numpy())


# ---- settings ------------------------------------------------------------------------------------
def test_check_classes_limits_the_targets():
    FABTargeted(target_classes=9).check_classes(10)
    with pytest.raises(ConfigError, match="target_classes=10"):
        FABTargeted(target_classes=10).check_classes(10)
    with pytest.raises(ConfigError, match="target_classes=2"):
        FABTargeted(target_classes=2).check_classes(2)


@pytest.mark.parametrize("cls", [FAB, FABTargeted])
@pytest.mark.parametrize("field,value", [
    ("eps", 0), ("eps", -0.1), ("eps", float("nan")), ("norm", "l1"), ("norm", "L2"), ("steps", 0),
    ("restarts", 0), ("restarts", 1.5), ("alpha_max", 1.5), ("alpha_max", -0.1), ("eta", 0.9),
    ("beta", 0), ("beta", 1.1), ("targeted", True),
])
def test_validation_rejects_bad_settings(cls, field, value):
    with pytest.raises(ConfigError, match=field):
        cls(**{field: value})


def test_validation_rejects_bad_target_classes_and_accepts_defaults():
    with pytest.raises(ConfigError, match="target_classes"):
        FABTargeted(target_classes=0)
    assert FAB().radius == 0.3 and FAB(norm="l2", eps=1.0).radius == 1.0
    assert FABTargeted().target_classes == 9 and FABTargeted.name == "fab_t" and FAB.name == "fab"
