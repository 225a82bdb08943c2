"""Average- and worst-case (robust) flatness: exact zero at xi=0, restored weights, determinism,
worst >= average, the worst-case ball, and argument checks."""
import numpy as np
import pytest
import tensorflow as tf

from flatness_helpers import snapshot, unchanged
from tfrobust.errors import ConfigError
from tfrobust.evaluation import evaluate
from tfrobust.flatness import (average_flatness, clean_loss, perturbable, relative_norms, robust_loss,
                               worst_case_perturbation, worst_flatness)

FAST = dict(batch_size=20)


def test_robust_loss_is_evaluate_loss_with_the_same_seed(dense, data, pgd):
    x, y = data
    dataset = tf.data.Dataset.from_tensor_slices(data).batch(20)
    expected = evaluate(dense, dataset, {"pgd": pgd}, seed=5, checks=False, compact=False)
    assert robust_loss(dense, dataset, pgd, seed=5, **FAST) == pytest.approx(expected["pgd"]["loss"], rel=1e-6)
    assert clean_loss(dense, (x, y), **FAST) == pytest.approx(expected["natural"]["loss"], rel=1e-6)
    assert robust_loss(dense, data, pgd, max_examples=7, batch_size=3) == pytest.approx(
        robust_loss(dense, (x[:7], y[:7]), pgd, batch_size=3), rel=0)


@pytest.mark.parametrize("robust", [True, False])
def test_every_measure_is_exactly_zero_at_xi_zero(masked_model, data, pgd, robust):
    attack = pgd if robust else None
    before = snapshot(masked_model)
    avg = average_flatness(masked_model, data, attack, xi=0.0, draws=2, **FAST)
    worst = worst_flatness(masked_model, data, attack, xi=0.0, steps=2, restarts=2, **FAST)
    for result in (avg, worst):
        assert result.value == 0.0 and result.values == (0.0, 0.0)
        assert result.losses == (result.reference, result.reference)
    assert unchanged(masked_model, before)


def test_weights_are_restored_bit_for_bit_and_results_repeat(masked_model, data, pgd):
    before = snapshot(masked_model)
    first = [average_flatness(masked_model, data, pgd, xi=0.5, draws=2, seed=3, **FAST),
             worst_flatness(masked_model, data, pgd, xi=0.05, steps=2, restarts=2, seed=3, **FAST),
             average_flatness(masked_model, data, None, xi=0.5, draws=2, seed=3, **FAST),
             worst_flatness(masked_model, data, None, xi=0.05, steps=2, restarts=2, seed=3, **FAST)]
    assert unchanged(masked_model, before)
    again = [average_flatness(masked_model, data, pgd, xi=0.5, draws=2, seed=3, **FAST),
             worst_flatness(masked_model, data, pgd, xi=0.05, steps=2, restarts=2, seed=3, **FAST)]
    for a, b in zip(first, again):
        assert (a.value, a.losses, a.joint_losses) == (b.value, b.losses, b.joint_losses)
    avg, worst, avg_clean, worst_clean = first
    assert avg.value == pytest.approx(np.mean(avg.values)) and worst.value == max(worst.values)
    assert avg.losses != (avg.reference,) * 2  # the perturbation did change the loss
    assert avg.attack_runs == 3 * 2 and worst.attack_runs == 3 * 2  # (draws or restarts + 1) x 2 batches
    assert avg_clean.attack_runs == 0 and worst_clean.joint_losses is None
    assert len(worst.joint_losses) == 2 and worst.joint_value == max(worst.joint_losses) - worst.reference
    other = average_flatness(masked_model, data, pgd, xi=0.5, draws=2, seed=4, **FAST)
    assert other.losses != avg.losses


@pytest.mark.parametrize("robust", [True, False])
def test_worst_case_exceeds_average_case_at_the_same_xi(dense, data, pgd, robust):
    attack = pgd if robust else None
    for xi in (0.01, 0.1):
        avg = average_flatness(dense, data, attack, xi=xi, draws=3, **FAST)
        worst = worst_flatness(dense, data, attack, xi=xi, steps=3, restarts=1, weight_step=xi / 2, **FAST)
        assert worst.value > 0 and worst.value >= max(avg.values)


def test_worst_case_perturbation_stays_in_the_ball_and_on_the_support(masked_model, data, pgd):
    before = snapshot(masked_model)
    entries = perturbable(masked_model)
    for attack in (pgd, None):
        nu = worst_case_perturbation(masked_model, data, attack, xi=0.05, steps=3, weight_step=0.04, **FAST)
        rel = relative_norms(entries, nu)
        assert np.all(rel <= 0.05 * (1 + 1e-5)) and np.all(rel > 0.02)
        assert np.all(nu[0][entries[0].mask.numpy() == 0] == 0)
    assert unchanged(masked_model, before)


def test_a_dataset_and_arrays_give_the_same_examples(masked_model, data, pgd):
    x, y = data
    batched = tf.data.Dataset.from_tensor_slices(data).batch(8)
    a = average_flatness(masked_model, batched, pgd, xi=0.3, draws=1, max_examples=30, **FAST)
    b = average_flatness(masked_model, (x[:30], y[:30]), pgd, xi=0.3, draws=1, **FAST)
    assert a.losses == b.losses and a.examples == 30


@pytest.mark.parametrize("call, name", [
    (lambda m, d, a: average_flatness(m, d, a, xi=-0.5), "xi"),
    (lambda m, d, a: average_flatness(m, d, a, xi=float("nan")), "xi"),
    (lambda m, d, a: worst_flatness(m, d, a, xi=-1e-3), "xi"),
    (lambda m, d, a: average_flatness(m, d, a, draws=0), "draws"),
    (lambda m, d, a: average_flatness(m, d, a, draws=2.5), "draws"),
    (lambda m, d, a: worst_flatness(m, d, a, restarts=0), "restarts"),
    (lambda m, d, a: worst_flatness(m, d, a, steps=0), "steps"),
    (lambda m, d, a: worst_flatness(m, d, a, weight_step=0), "weight_step"),
    (lambda m, d, a: average_flatness(m, d, a, max_examples=0), "max_examples"),
    (lambda m, d, a: average_flatness(m, d, a, batch_size=0), "batch_size"),
    (lambda m, d, a: average_flatness(m, d, a, seed=-1), "seed"),
    (lambda m, d, a: average_flatness(m, d, 42), "attack"),
    (lambda m, d, a: worst_flatness(m, d, "fgsm:eps=0.1"), "attack"),
    (lambda m, d, a: robust_loss(m, d, None), "attack"),
    (lambda m, d, a: average_flatness(m, "data", a), "data"),
])
def test_bad_arguments_name_the_argument(masked_model, data, pgd, call, name):
    before = snapshot(masked_model)
    with pytest.raises(ConfigError, match=rf"^{name}="):
        call(masked_model, data, pgd)
    assert unchanged(masked_model, before)
