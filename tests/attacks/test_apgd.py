"""APGD and APGD-T: the reference's schedule and losses on hand-computed values, and the attacks'
invariants on a trained model."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.attacks import PGD, from_spec
from tfrobust.attacks.apgd import APGD, APGDTargeted, checkpoints, should_halve
from tfrobust.attacks.losses import dlr_loss, margin, ranked_class, targeted_dlr_loss
from tfrobust.errors import ConfigError


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model(x).numpy(), -1) == y.numpy()))


def distance(x_adv, x, norm):
    d = (x_adv - x).numpy().reshape(len(x), -1)
    return np.abs(d).max(1) if norm == "linf" else np.sqrt((d ** 2).sum(1))


def test_checkpoints_follow_the_papers_recursion():
    # p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06): checks after
    # ceil(p_j * N) iterations, so 0-based iteration p_j * N - 1.
    p = [0.0, 0.22]
    while p[-1] + max(p[-1] - p[-2] - 0.03, 0.06) <= 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    assert checkpoints(100) == [round(q * 100) - 1 for q in p[1:]]
    assert checkpoints(100) == [21, 40, 56, 69, 79, 86, 92, 98]
    assert checkpoints(10) == list(range(1, 10))  # windows of 2, then of at least one step
    assert checkpoints(1) == [0]


def test_the_step_size_halves_on_oscillation_or_on_a_stalled_best_loss():
    rises = tf.constant([16.0, 17.0, 17.0, 20.0])
    halved_last = tf.constant([False, False, True, False])
    best_last = tf.constant([1.0, 1.0, 1.0, 1.0])
    best_now = tf.constant([2.0, 2.0, 1.0, 1.0])
    # window 22, rho 0.75: at most 16.5 rises halves; a best loss that has not risen halves too,
    # unless the step size was halved at the last check.
    got = should_halve(rises, 22.0, 0.75, halved_last, best_last, best_now).numpy().tolist()
    assert got == [True, False, False, True]


def test_dlr_losses_match_hand_computed_values():
    logits = tf.constant([[3.0, 1.0, 0.0, -1.0], [3.0, 1.0, 0.0, -1.0]])
    y = tf.constant([0, 1])
    np.testing.assert_allclose(dlr_loss(logits, y).numpy(), [-2 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(margin(logits, y).numpy(), [2.0, -2.0])
    # targeted: -(z_y - z_t) / (z_1 - (z_3 + z_4) / 2)
    five = tf.constant([[4.0, 3.0, 2.0, 1.0, 0.0]])
    np.testing.assert_allclose(targeted_dlr_loss(five, tf.constant([0]), tf.constant([2])).numpy(), [-0.8],
                               rtol=1e-6)
    # invariant to shifting and (positive) scaling of the logits
    np.testing.assert_allclose(dlr_loss(logits * 7 + 3, y).numpy(), dlr_loss(logits, y).numpy(), rtol=1e-5)
    assert ranked_class(five[:, ::-1], 2).numpy().tolist() == [3]


def test_apgd_is_at_least_as_strong_as_pgd_at_the_same_budget(trained_model, test_batch):
    x, y = test_batch
    pgd = PGD(eps=0.1, step_size=0.01, steps=50, seed=3)
    apgd = APGD(eps=0.1, steps=50, seed=3)
    assert accuracy(trained_model, apgd(trained_model, x, y), y) <= accuracy(trained_model, pgd(trained_model, x, y), y)
    assert accuracy(trained_model, apgd(trained_model, x, y), y) < accuracy(trained_model, x, y) - 0.2


@pytest.mark.parametrize("spec,norm,eps", [
    ("apgd:eps=0.1,steps=20", "linf", 0.1),
    ("apgd:eps=0.1,steps=20,loss=dlr,restarts=2", "linf", 0.1),
    ("apgd:eps=0.8,steps=20,norm=l2", "l2", 0.8),
    ("apgd_t:eps=0.1,steps=10,target_classes=3", "linf", 0.1),
    ("apgd_t:eps=0.8,steps=10,target_classes=2,norm=l2", "l2", 0.8),
])
def test_outputs_stay_in_the_ball_and_the_box_and_the_seed_fixes_them(trained_model, test_batch, spec, norm, eps):
    x, y = test_batch
    attack = from_spec(spec)
    x_adv = attack(trained_model, x, y, seed=[5, 0])
    assert 0.0 <= float(tf.reduce_min(x_adv)) and float(tf.reduce_max(x_adv)) <= 1.0
    assert distance(x_adv, x, norm).max() <= eps * (1 + 1e-5) + 1e-6
    np.testing.assert_array_equal(attack(trained_model, x, y, seed=[5, 0]).numpy(), x_adv.numpy())
    assert not np.array_equal(attack(trained_model, x, y, seed=[6, 0]).numpy(), x_adv.numpy())
    # Examples misclassified to begin with are not attacked.
    wrong = np.argmax(trained_model(x).numpy(), -1) != y.numpy()
    np.testing.assert_array_equal(x_adv.numpy()[wrong], x.numpy()[wrong])


def test_passes_are_counted_exactly(trained_model, test_batch):
    x, y = test_batch
    x, y = x[:40], y[:40]
    correct = int(np.sum(np.argmax(trained_model(x).numpy(), -1) == y.numpy()))
    _, passes = APGD(eps=0.1, steps=7, eot_iter=2).run(trained_model, x, y)
    # one clean pass over the batch; per correct example, 8 gradient evaluations of 2 passes each
    assert passes.numpy().tolist() == [40 + correct * 8 * 2, correct * 8 * 2]
    _, passes = APGDTargeted(eps=0.1, steps=5, target_classes=2).run(trained_model, x, y)
    forward, backward = (int(v) for v in passes.numpy())
    # per target, r examples still robust: r forward to rank the target, 6 r forward and backward
    assert backward % 6 == 0 and forward - 40 == backward // 6 * 7
    assert 6 * correct <= backward <= 2 * 6 * correct


def test_apgd_t_targets_run_in_order_of_the_clean_logits(trained_model, test_batch):
    x, y = test_batch
    one = accuracy(trained_model, APGDTargeted(eps=0.05, steps=20, target_classes=1)(trained_model, x, y), y)
    three = accuracy(trained_model, APGDTargeted(eps=0.05, steps=20, target_classes=3)(trained_model, x, y), y)
    assert three <= one  # more targets, each only on the examples still robust


@pytest.mark.parametrize("spec,message", [
    ("apgd:eps=0", "eps=0.0 is not allowed; eps must be a finite number > 0"),
    ("apgd:eps=-0.1", "eps=-0.1 is not allowed"),
    ("apgd:norm=l1", "norm='l1' is not allowed"),
    ("apgd:loss=hinge", "loss='hinge' is not allowed"),
    ("apgd:rho=1.5", "rho=1.5 is not allowed"),
    ("apgd:steps=0", "steps=0 is not allowed"),
    ("apgd:eot_iter=0", "eot_iter=0 is not allowed"),
    ("apgd_t:target_classes=0", "target_classes=0 is not allowed"),
    ("apgd_t:loss=ce", "loss='ce' is not allowed"),
])
def test_bad_settings_are_refused(spec, message):
    with pytest.raises(ConfigError, match=message):
        from_spec(spec)


def test_class_counts_are_checked():
    with pytest.raises(ConfigError, match="target_classes=9 is more than the 4 other classes of a 5-class"):
        APGDTargeted().check_classes(5)
    with pytest.raises(ConfigError, match="4 classes or more"):
        APGDTargeted(target_classes=2).check_classes(3)
    with pytest.raises(ConfigError, match="loss=dlr needs 3 classes"):
        APGD(loss="dlr").check_classes(2)
    APGDTargeted().check_classes(10)
    APGD().check_classes(2)
