"""Attacking only what is still robust gives the accuracy of attacking everything."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import attacks
from tfrobust.attacks import example_random
from tfrobust.attacks.pgd import random_point
from tfrobust.errors import ConfigError
from tfrobust.evaluation import evaluate

PGD = attacks.from_spec("pgd:eps=0.12,step_size=0.03,steps=8,restarts=3")


def seeds_for(indices, seed=5):
    return tf.stack([tf.fill([len(indices)], tf.constant(seed, tf.int64)), tf.constant(indices, tf.int64)], 1)


def test_compacting_gives_exactly_the_accuracy_of_attacking_every_example(trained_model, synthetic_splits):
    full = evaluate(trained_model, synthetic_splits.test, {"pgd": PGD}, seed=9, checks=False, compact=False)
    compact = evaluate(trained_model, synthetic_splits.test, {"pgd": PGD}, seed=9, checks=False, compact=True)
    assert compact["pgd"]["accuracy"] == full["pgd"]["accuracy"]
    assert compact["natural"] == full["natural"]
    natural, robust = full["natural"]["accuracy"], full["pgd"]["accuracy"]
    assert 0.05 < robust < natural - 0.05  # the attack broke some examples and left others: a real test
    rounds = compact["pgd"]["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert rounds[0]["attacked"] == round(natural * 300)  # only what was classified correctly
    assert rounds[1]["attacked"] == round(rounds[0]["accuracy"] * 300) < rounds[0]["attacked"]
    assert rounds[-1]["accuracy"] == robust
    assert "rounds" not in full["pgd"]
    # the first success is kept, so the compacted loss is at most the full attack's
    assert compact["pgd"]["loss"] <= full["pgd"]["loss"]


def test_restarts_matter_so_the_compaction_test_sees_them(trained_model, synthetic_splits):
    one = evaluate(trained_model, synthetic_splits.test, {"pgd": attacks.from_spec("pgd:eps=0.12,step_size=0.03,steps=8")},
                   seed=9, checks=False)
    three = evaluate(trained_model, synthetic_splits.test, {"pgd": PGD}, seed=9, checks=False)
    assert three["pgd"]["accuracy"] < one["pgd"]["accuracy"]
    assert one["pgd"]["accuracy"] == three["pgd"]["rounds"][0]["accuracy"]  # restart 0 is the same draw


@pytest.mark.parametrize("compact", [True, False])
def test_the_evaluation_batch_size_does_not_change_the_results(trained_model, synthetic_splits, compact):
    accuracies = {evaluate(trained_model, synthetic_splits.test, {"pgd": PGD}, seed=9, checks=False, timing=False,
                           batch_size=b, compact=compact)["pgd"]["accuracy"] for b in (7, 64, 1000)}
    assert len(accuracies) == 1


def test_a_random_start_depends_only_on_the_seed_and_the_index():
    x = tf.random.uniform([6, 4, 4, 1])
    seeds = seeds_for(range(6))
    for norm in ("linf", "l2"):
        whole = random_point(x, 0.3, norm, seeds).numpy()
        part = random_point(tf.gather(x, [4, 1]), 0.3, norm, tf.gather(seeds, [4, 1])).numpy()
        np.testing.assert_array_equal(part, whole[[4, 1]])
        assert not np.allclose(whole[0] - x[0], whole[1] - x[1])  # different examples, different draws


def test_an_example_s_attack_does_not_depend_on_its_batch_mates(trained_model, test_batch):
    x, y = test_batch
    x, y = x[:40], y[:40]
    seeds = seeds_for(range(40))
    whole = PGD(trained_model, x, y, seed=seeds).numpy()
    pick = [3, 17, 31]
    part = PGD(trained_model, tf.gather(x, pick), tf.gather(y, pick), seed=tf.gather(seeds, pick)).numpy()
    np.testing.assert_allclose(part, whole[pick], atol=1e-6)


def test_a_round_is_a_restart_stopping_at_the_first_success(trained_model, test_batch):
    x, y = test_batch
    logits = trained_model(x)
    keep = np.flatnonzero(np.argmax(logits, -1) == y.numpy())[:60]
    x, y = tf.gather(x, keep), tf.gather(y, keep)
    seeds = seeds_for(keep)
    one = attacks.from_spec("pgd:eps=0.12,step_size=0.03,steps=8")
    full = np.argmax(trained_model(one(trained_model, x, y, seed=seeds)), -1) != y.numpy()
    adv = PGD.run_round(trained_model, x, y, seeds, 0)
    fooled = np.argmax(trained_model(adv), -1) != y.numpy()
    np.testing.assert_array_equal(fooled, full)
    assert 0 < fooled.sum() < len(keep)
    assert float(tf.reduce_max(tf.abs(adv - x))) <= 0.12 + 1e-6


def test_only_compactable_attacks_take_per_example_seeds(trained_model, test_batch):
    x, y = test_batch
    assert PGD.compactable and not attacks.from_spec("pgd:keep_best=false").compactable
    # targeted: "robust" would be "not at the target"; predicted labels: a misclassified input is
    # attacked away from its wrong class and may come back to the true one
    assert not attacks.from_spec("pgd:targeted=true", targets=True).compactable
    assert not attacks.from_spec("pgd:predicted_labels=true").compactable
    assert not attacks.FGSM().compactable
    with pytest.raises(ConfigError, match="not per-example seeds"):
        attacks.FGSM()(trained_model, x[:4], y[:4], seed=seeds_for(range(4)))


def test_per_example_draws_are_uniform_normal_and_distinct():
    seeds = seeds_for(range(400))
    u = example_random.uniform(seeds, [50], -1.0, 3.0).numpy()
    assert u.shape == (400, 50) and u.min() >= -1.0 and u.max() < 3.0
    assert abs(u.mean() - 1.0) < 0.02 and abs(u.var() - 16 / 12) < 0.03
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.15 and abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.4
    z = example_random.normal(seeds, [50]).numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02
    assert not np.array_equal(example_random.uniform(seeds, [50], salt=1).numpy(), (u + 1) / 4)
    folded = [example_random.fold_rows(seeds, r).numpy() for r in (0, 1)]
    assert len({tuple(row) for f in folded for row in f}) == 800  # every (example, restart) its own seed
    np.testing.assert_array_equal(example_random.fold_rows(tf.gather(seeds, [7]), 1).numpy(), folded[1][[7]])


def test_evaluation_attacks_compile_once_per_model(trained_model, synthetic_splits):
    attack = attacks.from_spec("pgd:eps=0.12,step_size=0.03,steps=4,restarts=2")
    for seed in (1, 2, 3):  # three evaluation points
        evaluate(trained_model, synthetic_splits.test, {"pgd": attack}, seed=seed, checks=False, batch_size=64)
    (fn,) = attack._compiled[trained_model].values()
    assert fn.experimental_get_tracing_count() == 1  # every batch size, round and seed: one graph


def test_a_round_on_a_conv_model_survives_every_example_breaking():
    """oneDNN's CPU kernels fail on a convolution of an empty batch in a loop: a round whose
    examples all succeed must not run one."""
    from tfrobust import models

    model = models.build_model("lenet", (28, 28, 1), 10, seed=0, width=4)
    x = tf.random.stateless_uniform([16, 28, 28, 1], [0, 1])
    y = tf.argmax(model(x), -1)  # every example "correct", and an untrained model breaks at once
    adv = attacks.from_spec("pgd:eps=0.3,step_size=0.01,steps=40").run_round(model, x, y, seeds_for(range(16)), 0)
    assert bool(tf.reduce_all(tf.argmax(model(adv), -1) != y))
