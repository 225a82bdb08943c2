"""Objectives: each loss equals its formula on a fixed model and batch; a new one plugs in."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfrobust import models
from tfrobust.attacks import PGD, from_spec
from tfrobust.build import build, check
from tfrobust.training import OBJECTIVES, Objective, TrainConfig, train
from tfrobust.training.objectives import kl_divergence

DATA = "synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"
SEED = tf.constant([3, 4], tf.int64)


@pytest.fixture(scope="module")
def batch():
    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((8, 10, 10, 1)), tf.float32)
    y = tf.constant(rng.integers(0, 10, 8), tf.int64)
    return model, x, y


def ce(model, x, y):
    logits = model(x, training=True).numpy().astype(np.float64)
    log_p = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    return -log_p[np.arange(len(y)), y.numpy()].mean()


def objective(spec, attack="pgd:eps=0.1,step_size=0.03,steps=3", **kw):
    return check(TrainConfig(objective=spec, attack=attack, **kw)).objective


def test_natural_mix_and_madry_are_their_formulas(batch):
    model, x, y = batch
    mix = objective("mix:adv_weight=0.25")
    x_adv = mix.attack.perturb(model, x, y, SEED)
    assert float(objective("natural").loss(model, x, y, SEED)[0]) == pytest.approx(ce(model, x, y), rel=1e-5)
    expected = 0.75 * ce(model, x, y) + 0.25 * ce(model, x_adv, y)
    assert float(mix.loss(model, x, y, SEED)[0]) == pytest.approx(expected, rel=1e-5)
    assert float(objective("madry").loss(model, x, y, SEED)[0]) == pytest.approx(ce(model, x_adv, y), rel=1e-5)


def test_the_training_attack_takes_its_training_defaults_unless_the_spec_sets_them():
    assert objective("madry").attack.keep_best is False  # Madry's last iterate
    assert objective("madry", attack="pgd:keep_best=true").attack.keep_best is True
    assert from_spec("pgd").keep_best is True  # evaluation keeps the worst case
    assert objective("mix", predicted_labels=True).attack.predicted_labels is True


def test_label_smoothing_reaches_the_objective(batch):
    model, x, y = batch
    smooth = objective("natural", label_smoothing=0.2)
    assert smooth.label_smoothing == 0.2
    logits = model(x, training=True).numpy().astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    target = np.full((8, 10), 0.02) + 0.8 * np.eye(10)[y.numpy()]
    expected = -(target * log_p).sum(1).mean()
    assert float(smooth.loss(model, x, y, SEED)[0]) == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx(ce(model, x, y), rel=1e-3)


def test_trades_is_clean_loss_plus_beta_times_kl_and_its_ascent_raises_the_kl(batch):
    model, x, y = batch
    trades = objective("trades:beta=2")
    loss, metrics = trades.loss(model, x, y, SEED)
    assert float(loss) == pytest.approx(float(metrics["clean_loss"]) + 2 * float(metrics["kl"]), rel=1e-6)
    assert float(metrics["clean_loss"]) == pytest.approx(ce(model, x, y), rel=1e-5)
    p = tf.nn.softmax(model(x, training=False))
    x_adv = trades.kl_ascent(model, x, p, SEED)
    assert float(tf.reduce_max(tf.abs(x_adv - x))) <= 0.1 + 1e-6
    noise_only = x + 0.001 * tf.random.stateless_normal(tf.shape(x), SEED)
    kl = lambda z: float(tf.reduce_mean(kl_divergence(p, model(z, training=False))))
    assert kl(x_adv) > 10 * kl(noise_only) and kl(noise_only) >= 0
    assert float(objective("trades:beta=0").loss(model, x, y, SEED)[0]) == pytest.approx(ce(model, x, y), rel=1e-5)


def test_kl_divergence_matches_numpy():
    p = tf.constant([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    logits = tf.constant([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    q = tf.nn.softmax(logits).numpy()
    expected = [0.5 * np.log(0.5 / q[0, 0]) + 0.5 * np.log(0.5 / q[0, 1]),
                sum(pi * np.log(pi / (1 / 3)) for pi in (0.2, 0.3, 0.5))]
    np.testing.assert_allclose(kl_divergence(p, logits).numpy(), expected, rtol=1e-5)


@dataclasses.dataclass(frozen=True)
class CleanLogitPairing(Objective):
    """The README's example of a new objective: clean cross-entropy plus a squared distance
    between clean and adversarial logits."""

    weight: float = 1.0
    uses_attack = True

    def loss(self, model, x, y, seed):
        clean = model(x, training=True)
        adv = model(self.adversarial(model, x, y, seed), training=True)
        pairing = tf.reduce_mean(tf.reduce_sum(tf.square(clean - adv), axis=-1))
        ce = self.cross_entropy(clean, y)
        return ce + self.weight * pairing, {"clean_loss": ce, "pairing": pairing}


def test_a_new_objective_plugs_in_with_a_registration_and_trains(tmp_path):
    OBJECTIVES.register("logit_pairing")(CleanLogitPairing)
    try:
        config = TrainConfig(dataset=DATA, valid_size=100, batch_size=20, train_iters=40, eval_every=20,
                             objective="logit_pairing:weight=0.5", attack="fgsm:eps=0.1")
        assert build(config).objective == CleanLogitPairing(attack=from_spec("fgsm:eps=0.1"), weight=0.5)
        results = train(config, str(tmp_path))
        assert results["final"]["test"]["natural"]["accuracy"] > 0.5
        assert results["final"]["train_loss"] < 2.3
    finally:
        OBJECTIVES._entries.pop("logit_pairing")


def test_trades_trains_through_the_loop_and_logs_its_terms(tmp_path):
    seen = {}

    from tfrobust.training import Hook

    class Spy(Hook):
        def after_step(self, trainer, step):
            seen[step] = {k: float(v) for k, v in trainer.logs.items()}

    config = TrainConfig(dataset=DATA, valid_size=100, batch_size=20, train_iters=40, eval_every=40,
                         objective="trades:beta=1", attack="pgd:eps=0.1,step_size=0.03,steps=3")
    results = train(config, str(tmp_path), hooks=[Spy()])
    assert set(seen[1]) == {"loss", "clean_loss", "kl"}
    assert seen[40]["loss"] == pytest.approx(seen[40]["clean_loss"] + seen[40]["kl"], rel=1e-5)
    assert seen[40]["clean_loss"] < seen[1]["clean_loss"]
    assert results["final"]["test"]["natural"]["accuracy"] > 0.5
    assert isinstance(build(config).objective.attack, PGD)
