import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks.square import (
    Square, _eta_rectangle, eta, l2_update, p_selection, schedule_stage, square_size,
)
from tfrobust.attacks.base import per_example_loss
from tfrobust.errors import ConfigError

BOUNDS = [("linf", 0.1), ("l2", 1.0)]


def distance(x_adv, x, norm):
    d = (np.asarray(x_adv) - np.asarray(x)).reshape(len(x), -1)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x).numpy(), -1) == np.asarray(y)))


def constant_model(shape=(6, 6, 1), classes=3):
    """Always predicts class 0 by a margin of 5, whatever the input: nothing can fool it."""
    model = keras.Sequential([keras.layers.Flatten(input_shape=shape),
                              keras.layers.Dense(classes, kernel_initializer="zeros")])
    model.layers[-1].bias.assign([5.0] + [0.0] * (classes - 1))
    return model


@pytest.mark.parametrize("norm,eps", BOUNDS)
def test_outputs_stay_in_the_ball_and_box_within_the_query_budget(trained_model, test_batch, norm, eps):
    x, y = test_batch
    queries = 60
    x_adv, passes = Square(eps=eps, norm=norm, queries=queries).run(trained_model, x, y)
    assert x_adv.shape == x.shape and x_adv.dtype == tf.float32
    assert float(tf.reduce_min(x_adv)) >= 0.0 and float(tf.reduce_max(x_adv)) <= 1.0
    d = distance(x_adv, x, norm)
    assert d.max() <= eps * (1 + 1e-5) + 1e-6
    assert d.max() > 0.5 * eps  # it moved
    forward, backward = passes.numpy()
    assert backward == 0
    assert len(x) < forward <= queries * len(x)
    correct = int(round(accuracy(trained_model, x, y) * len(x)))
    assert forward < len(x) + correct * (queries - 1)  # fooled examples stop costing queries


def test_an_unfoolable_model_uses_exactly_the_budget_and_gets_the_input_back():
    model, x = constant_model(), tf.random.stateless_uniform([7, 6, 6, 1], [1, 2])
    y = tf.zeros([7], tf.int64)
    for norm, restarts in [("linf", 1), ("l2", 1), ("linf", 3)]:
        x_adv, passes = Square(eps=0.2, norm=norm, queries=25, restarts=restarts).run(model, x, y)
        np.testing.assert_array_equal(passes.numpy(), [25 * restarts * 7, 0])
        np.testing.assert_array_equal(x_adv.numpy(), x.numpy())  # no point lowered the loss
    _, passes = Square(queries=1, restarts=2).run(model, x, y)  # clean pass, then one start
    np.testing.assert_array_equal(passes.numpy(), [2 * 7, 0])


def test_examples_already_misclassified_cost_only_the_clean_pass():
    model, x = constant_model(), tf.random.stateless_uniform([5, 6, 6, 1], [1, 2])
    y = tf.constant([1, 2, 1, 0, 0], tf.int64)  # 3 wrong already, 2 right and unfoolable
    x_adv, passes = Square(eps=0.2, queries=10).run(model, x, y)
    np.testing.assert_array_equal(passes.numpy(), [5 + 2 * 9, 0])
    np.testing.assert_array_equal(x_adv.numpy(), x.numpy())


@pytest.mark.parametrize("norm,eps", BOUNDS)
def test_same_seed_same_output_other_seed_other_output(trained_model, test_batch, norm, eps):
    x, y = test_batch[0][:40], test_batch[1][:40]
    attack = Square(eps=eps, norm=norm, queries=20)
    a = attack.run(trained_model, x, y, seed=[3, 0])[0].numpy()
    b = attack.run(trained_model, x, y, seed=[3, 0])[0].numpy()
    c = attack.run(trained_model, x, y, seed=[4, 0])[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1 * eps


@pytest.mark.parametrize("norm,eps", [("linf", 0.15), ("l2", 1.5)])
def test_square_lowers_accuracy_and_more_queries_or_restarts_never_help(trained_model, test_batch, norm, eps):
    x, y = test_batch

    def acc(**kw):
        return accuracy(trained_model, Square(eps=eps, norm=norm, seed=1, **kw)(trained_model, x, y), y)

    clean = accuracy(trained_model, x, y)
    by_queries = [acc(queries=q) for q in (50, 100, 300)]
    assert by_queries == sorted(by_queries, reverse=True)  # the longer run extends the shorter one
    assert by_queries[-1] < clean - 0.15  # (0.99 -> 0.77 linf, 0.64 l2)
    assert acc(queries=50, restarts=3) <= by_queries[0]
    if norm == "linf":  # smaller squares suit this dense model on noisy 10x10 images better
        assert acc(queries=300, p_init=0.1) < clean - 0.3  # (0.54)


def test_targeted_square_lowers_the_loss_of_the_targets(trained_model, test_batch):
    x, y = test_batch[0][:100], test_batch[1][:100]
    target = (tf.cast(y, tf.int64) + 1) % 10
    x_adv, passes = Square(eps=0.15, queries=200, targeted=True).run(trained_model, x, target)

    def target_loss(x):
        return float(tf.reduce_mean(per_example_loss(trained_model(x), target)))

    assert target_loss(x_adv) < 0.7 * target_loss(x)  # (11.4 -> 6.8)
    assert distance(x_adv, x, "linf").max() <= 0.15 + 1e-6
    assert passes.numpy()[0] <= 200 * 100
    with pytest.raises(ConfigError, match="targeted"):
        Square(targeted=True).run(trained_model, x)  # needs the targets


def test_zero_radius_returns_the_input(trained_model, test_batch):
    x, y = test_batch[0][:30], test_batch[1][:30]
    for norm in ("linf", "l2"):
        attack = Square(norm=norm, queries=10).with_radius(0)
        np.testing.assert_array_equal(attack(trained_model, x, y).numpy(), x.numpy())


def test_p_schedule_matches_the_reference():
    expected = {0: 0.8, 10: 0.8, 11: 0.4, 50: 0.4, 51: 0.2, 200: 0.2, 201: 0.1, 500: 0.1, 501: 0.05,
                1000: 0.05, 1001: 0.025, 2001: 0.0125, 4000: 0.0125, 4001: 0.00625, 6001: 0.003125,
                8000: 0.003125, 8001: 0.0015625, 10 ** 6: 0.0015625}
    for it, p in expected.items():
        assert p_selection(it, 0.8) == pytest.approx(p, rel=1e-12)
        assert 0.8 / 2 ** int(schedule_stage(tf.constant(it))) == pytest.approx(p, rel=1e-12)
    assert p_selection(11, 0.3) == pytest.approx(0.15)


def test_square_sizes_match_the_reference():
    # 10x10: sqrt(p * 100) = 8.94, 6.32, 4.47, 3.16, 2.24, 1.58, 1.12, 0.79, 0.56, 0.40
    linf = [square_size(0.8 / 2 ** k, 10, 10, 1, "linf") for k in range(10)]
    l2 = [square_size(0.8 / 2 ** k, 10, 10, 1, "l2") for k in range(10)]
    assert linf == [9, 6, 4, 3, 2, 2, 1, 1, 1, 1]
    assert l2 == [9, 7, 5, 3, 3, 3, 3, 3, 3, 3]
    assert square_size(0.8, 32, 32, 3, "linf") == 29  # sqrt(0.8 * 1024) = 28.6
    assert square_size(1.0, 6, 8, 3, "linf") == 6  # at most min(h, w)
    assert square_size(1.0, 2, 2, 1, "l2") == 2


def test_eta_matches_hand_computed_values():
    np.testing.assert_allclose(_eta_rectangle(1, 3), [[0.25, 1.25, 0.25]] / np.sqrt(1.6875))
    np.testing.assert_allclose(_eta_rectangle(2, 3), [[0.25] * 3, [0.25, 1.25, 0.25]] / np.sqrt(1.875))
    top, low = 1 / np.sqrt(1.6875), 1 / np.sqrt(1.875)
    expected = np.array([[0.25 * top, 1.25 * top, 0.25 * top],
                         [-0.25 * low] * 3, [-0.25 * low, -1.25 * low, -0.25 * low]]) / np.sqrt(2)
    np.testing.assert_allclose(eta(3), expected, rtol=1e-6)
    for s in (1, 2, 5, 8):
        assert np.sum(eta(s) ** 2) == pytest.approx(1.0, rel=1e-5)


def _reference_l2_update(x, x_best, eps, eta_s, signs, vh, vw, vh2, vw2, s):
    """The reference's L2 window update, transcribed on channels-first numpy arrays."""
    delta = x_best - x
    c = x.shape[1]
    nw1 = np.sqrt((delta[:, :, vh:vh + s, vw:vw + s] ** 2).sum((-2, -1), keepdims=True))
    mask = np.zeros_like(x)
    mask[:, :, vh:vh + s, vw:vw + s] = 1
    mask[:, :, vh2:vh2 + s, vw2:vw2 + s] = 1
    norms_image = np.sqrt((delta ** 2).reshape(len(x), -1).sum(-1)).reshape(-1, 1, 1, 1)
    norms_windows = np.sqrt(((delta * mask) ** 2).sum((-2, -1), keepdims=True))
    new = eta_s[None, None] * signs + delta[:, :, vh:vh + s, vw:vw + s] / (1e-12 + nw1)
    new = new / (1e-12 + np.sqrt((new ** 2).sum((-2, -1), keepdims=True))) * np.sqrt(
        np.maximum(eps ** 2 - norms_image ** 2, 0) / c + norms_windows ** 2)
    delta[:, :, vh2:vh2 + s, vw2:vw2 + s] = 0
    delta[:, :, vh:vh + s, vw:vw + s] = new
    norm = np.sqrt((delta ** 2).reshape(len(x), -1).sum(-1)).reshape(-1, 1, 1, 1)
    return np.clip(x + delta / (norm + 1e-12) * eps, 0, 1)


def test_l2_window_update_matches_the_reference():
    rng = np.random.default_rng(0)
    n, c, h, w, s, eps = 4, 3, 9, 8, 5, 1.0
    x = rng.uniform(0.2, 0.8, (n, c, h, w))
    x_best = x + rng.normal(0, 0.05, x.shape)
    signs = rng.choice([-1.0, 1.0], (n, c, 1, 1))
    (vh, vw), (vh2, vw2) = (3, 1), (2, 3)  # overlapping squares
    expected = _reference_l2_update(x, x_best.copy(), eps, eta(s), signs, vh, vw, vh2, vw2, s)

    def nhwc(a):
        return tf.constant(np.transpose(a, (0, 2, 3, 1)), tf.float32)

    def square(top, left):
        m = np.zeros((h, w, 1), np.float32)
        m[top:top + s, left:left + s] = 1
        return tf.constant(m)

    canvas = np.zeros((h, w, 1), np.float32)
    canvas[vh:vh + s, vw:vw + s, 0] = eta(s)
    got = l2_update(nhwc(x), nhwc(x_best), tf.constant(eps), canvas * nhwc(signs), square(vh, vw), square(vh2, vw2))
    np.testing.assert_allclose(got.numpy(), np.transpose(expected, (0, 2, 3, 1)), atol=1e-5)


def test_linf_start_is_vertical_stripes_and_l2_start_has_norm_eps():
    x = tf.fill([3, 10, 10, 2], 0.5)
    seed = tf.constant([1, 2], tf.int64)
    delta = (Square(eps=0.1)._start(x, tf.constant(0.1), seed) - x).numpy()
    np.testing.assert_allclose(np.abs(delta), 0.1, rtol=1e-5)
    np.testing.assert_array_equal(delta, np.broadcast_to(delta[:, :1], delta.shape))  # same in every row
    assert len(np.unique(np.sign(delta[:, 0]))) == 2
    delta = (Square(eps=0.5, norm="l2")._start(x, tf.constant(0.5), seed) - x).numpy()
    np.testing.assert_allclose(distance(delta, np.zeros_like(delta), "l2"), 0.5, rtol=1e-5)
    window = delta[0, 0:2, 0:2, 0]  # 10x10: 25 windows of 2x2, each +-eta(2) or its transpose
    e = eta(2) * 0.5 / np.sqrt(50)  # 25 windows x 2 channels of unit norm
    assert any(np.allclose(window, sign * pattern, atol=1e-6) for sign in (-1, 1) for pattern in (e, e.T))


@pytest.mark.parametrize("iteration,side", [(0, 9), (60, 4), (3000, 1)])
def test_a_linf_step_moves_one_square_shared_by_the_batch(iteration, side):
    x = tf.fill([2, 10, 10, 3], 0.5)
    attack = Square(eps=0.1)
    for k in range(5):
        x_new = attack._step(x, x, tf.constant(0.1), tf.constant(iteration), tf.constant([k, 7], tf.int64))
        delta = (x_new - x).numpy()
        np.testing.assert_array_equal(delta[0], delta[1])  # one square and sign for the batch
        rows, cols = np.nonzero(np.abs(delta[0, :, :, 0]) > 0)
        assert rows.min() + side == rows.max() + 1 and cols.min() + side == cols.max() + 1
        assert len(rows) == side * side and rows.max() < 9 and cols.max() < 9  # position < h - s
        np.testing.assert_allclose(np.abs(delta[0][np.abs(delta[0]) > 0]), 0.1, rtol=1e-5)
        for c in range(3):  # one sign per channel
            assert len(np.unique(np.sign(delta[0, rows, cols, c]))) == 1


def test_an_l2_step_keeps_the_norm_eps():
    x = tf.fill([3, 10, 10, 2], 0.5)
    attack = Square(eps=0.5, norm="l2")
    x_best = attack._start(x, tf.constant(0.5), tf.constant([1, 2], tf.int64))
    for i in (0, 20):
        x_new = attack._step(x, x_best, tf.constant(0.5), tf.constant(i), tf.constant([i, 3], tf.int64))
        np.testing.assert_allclose(distance(x_new, x, "l2"), 0.5, rtol=1e-5)
    counts = []
    for k in range(6):  # stage 3: 3x3 squares; the start has no zero, so both squares change
        x_new = attack._step(x, x_best, tf.constant(0.5), tf.constant(300), tf.constant([k, 3], tf.int64))
        np.testing.assert_allclose(distance(x_new, x, "l2"), 0.5, rtol=1e-5)
        counts.append(np.any(np.abs((x_new - x_best).numpy()) > 1e-6, axis=(0, 3)).sum())
    assert 9 <= min(counts) and max(counts) <= 18 and max(counts) > 9


@pytest.mark.parametrize("kwargs,message", [
    (dict(eps=0), r"eps=0 is not allowed; eps must be a finite number > 0"),
    (dict(eps=-0.1), r"eps=-0\.1 is not allowed"),
    (dict(norm="l1"), r"norm='l1' is not allowed; norm must be one of linf, l2"),
    (dict(queries=0), r"queries=0 is not allowed; queries must be an integer >= 1"),
    (dict(queries=2.5), r"queries=2\.5 is not allowed"),
    (dict(p_init=0), r"p_init=0 is not allowed; p_init must be a number in \(0, 1\]"),
    (dict(p_init=1.5), r"p_init=1\.5 is not allowed"),
    (dict(p_init="a"), r"p_init='a' is not allowed"),
    (dict(restarts=0), r"restarts=0 is not allowed"),
    (dict(loss="dlr"), r"loss='dlr' is not allowed; loss must be one of margin, ce"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=r"attack 'square': " + message):
        Square(**kwargs)


def test_flat_inputs_and_one_class_are_refused():
    Square().check_input((10, 10, 1))
    with pytest.raises(ConfigError, match=r"attack 'square': needs images .* shape \(100,\)"):
        Square().check_input((100,))
    with pytest.raises(ConfigError, match="2 classes"):
        Square().check_classes(1)
