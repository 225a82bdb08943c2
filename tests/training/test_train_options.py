"""Stutz et al.'s training variants: label noise, weight clipping, weight averaging, early stopping
by checkpoint selection, snapshots and a smaller training set; each exact under resume."""
import dataclasses
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust import data
from tfrobust.attacks.base import Attack
from tfrobust.build import build
from tfrobust.config import run_id
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.layers import MaskedDense
from tfrobust.saving import load_model
from tfrobust.training import Evaluation, Hook, TrainConfig, Trainer
from tfrobust.training.clipping import clipped_variables
from tfrobust.training.label_noise import noisy_labels
from tfrobust.training.objectives import Madry

from tiny_runs import DATA, tiny  # noqa: E402


def trainer(config, base_dir, setup=None, **kw):
    return Trainer(setup or build(config), RunDir.for_config(str(base_dir), config.experiment, config), **kw)


def weights(model):
    return [v.numpy() for v in model.trainable_variables]


class Killed(Exception):
    pass


class Watch(Hook):
    """Records the trainable weights before training, after every step and at each evaluation point
    (where a user's hook stands: after the evaluation hooks); can stop the run at a step."""

    def __init__(self, kill_at=None):
        self.kill_at, self.start, self.steps, self.evals = kill_at, None, {}, {}

    def before_train(self, trainer, start_step):
        self.start = weights(trainer.model)

    def after_step(self, trainer, step):
        self.steps[step] = weights(trainer.model)
        if step == self.kill_at:
            raise Killed

    def after_eval(self, trainer, step, record):
        self.evals[step] = weights(trainer.model)


class WatchedEvaluation(Evaluation):
    """The standard evaluation, recording the weights it evaluates and their outputs on a batch."""

    def __init__(self, probe):
        super().__init__()
        self.probe, self.seen, self.outputs = probe, {}, {}

    def after_eval(self, trainer, step, record):
        self.seen[step] = weights(trainer.model)
        self.outputs[step] = trainer.model(self.probe, training=False).numpy()
        super().after_eval(trainer, step, record)


PROBE = np.random.default_rng(0).random((8, 10, 10, 1)).astype(np.float32)


# ---- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("kw,message", [
    (dict(label_noise=1.0), "--label_noise=1.0 is not allowed; it must be in [0, 1)"),
    (dict(label_noise=-0.1), "--label_noise=-0.1 is not allowed"),
    (dict(weight_clip=-0.01), "--weight_clip=-0.01 is not allowed; it must be a finite number >= 0"),
    (dict(weight_clip=float("inf")), "--weight_clip=inf is not allowed"),
    (dict(weight_average=1.0), "--weight_average=1.0 is not allowed; it must be in [0, 1) (0: off)"),
    (dict(train_examples=-1), "--train_examples=-1 is not allowed; it must be >= 0"),
    (dict(early_stopping=True, valid_size=0), "--early_stopping needs a validation split: set --valid_size > 0"),
])
def test_bad_values_fail_in_one_line_naming_the_flag(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        tiny(**kw)
    assert "\n" not in str(error.value)


def test_the_options_at_their_defaults_move_no_run_id_and_each_one_set_moves_it():
    assert run_id(TrainConfig()) == "44136fa355b3"  # tests/test_run_ids.py pins it
    assert TrainConfig().changes() == {}
    on = dict(label_noise=0.1, weight_clip=0.01, weight_average=0.98, early_stopping=True, snapshots=True,
              train_examples=500)
    ids = {run_id(TrainConfig(**{name: value})) for name, value in on.items()}
    assert len(ids) == len(on) and run_id(TrainConfig()) not in ids


# ---- label noise -----------------------------------------------------------------------------
def test_noisy_labels_flip_the_expected_fraction_the_same_way_for_a_seed():
    y = tf.constant(np.arange(50_000) % 10, tf.int64)
    seed = tf.constant([3, 7], tf.int64)
    assert np.array_equal(noisy_labels(y, 0.0, 10, seed).numpy(), y.numpy())
    noisy = noisy_labels(y, 0.4, 10, seed).numpy()
    assert np.array_equal(noisy, noisy_labels(y, 0.4, 10, seed).numpy())
    assert not np.array_equal(noisy, noisy_labels(y, 0.4, 10, tf.constant([3, 8], tf.int64)).numpy())
    changed = noisy != y.numpy()
    assert abs(changed.mean() - 0.4 * 9 / 10) < 0.01  # a uniform class may be the true one
    assert noisy.min() == 0 and noisy.max() == 9
    assert np.all(np.bincount(noisy[changed], minlength=10) > 0.08 * changed.sum())  # uniform over classes


SEEN = {}


@dataclasses.dataclass(frozen=True)
class LabelSpy(Attack):
    """Records the labels it is asked to attack; returns the input."""
    name = "spy"

    def perturb(self, model, x, y, seed):
        SEEN["attack"].assign(y)
        return x


@dataclasses.dataclass(frozen=True)
class SpyMadry(Madry):
    """Madry's loss, recording the labels it sees."""

    def loss(self, model, x, y, seed):
        SEEN["loss"].assign(y)
        return super().loss(model, x, y, seed)


class Labels(Hook):
    def __init__(self):
        self.loss, self.attack = [], []

    def after_step(self, trainer, step):
        self.loss.append(SEEN["loss"].numpy())
        self.attack.append(SEEN["attack"].numpy())


def run_with_spies(config, base_dir):
    SEEN.update(loss=tf.Variable(tf.zeros([20], tf.int64)), attack=tf.Variable(tf.zeros([20], tf.int64)))
    setup = build(config)
    setup = dataclasses.replace(setup, objective=SpyMadry(attack=LabelSpy(), num_classes=10))
    labels = Labels()
    trainer(config, base_dir, setup=setup, hooks=[labels]).run()
    true = [y.numpy() for _, y in setup.splits.train_stream(config.seed).take(config.train_iters)]
    return labels, np.concatenate(true)


def test_label_noise_changes_the_labels_the_loss_sees_not_those_the_attack_sees(tmp_path):
    config = tiny(train_iters=30, eval_every=30, valid_size=0, label_noise=0.5)
    labels, true = run_with_spies(config, tmp_path / "a")
    loss, attack = np.concatenate(labels.loss), np.concatenate(labels.attack)
    assert np.array_equal(attack, true)  # Stutz attacks the true labels; only the loss is noisy
    assert abs((loss != true).mean() - 0.5 * 9 / 10) < 0.07  # 600 labels: 3.5 standard deviations
    again, _ = run_with_spies(config, tmp_path / "b")
    assert np.array_equal(np.concatenate(again.loss), loss)  # a function of the seed and the step
    clean, _ = run_with_spies(dataclasses.replace(config, label_noise=0.0), tmp_path / "c")
    assert np.array_equal(np.concatenate(clean.loss), true)


# ---- weight clipping -------------------------------------------------------------------------
def test_clipping_skips_normalisation_layers_and_masks():
    inputs = keras.Input((4,))
    x = MaskedDense(3, use_bias=True, name="masked")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="plain")(x))
    names = sorted(v.name for v in clipped_variables(model))
    assert names == ["masked/bias:0", "masked/kernel:0", "plain/bias:0", "plain/kernel:0"]


def test_weight_clip_bounds_every_kernel_and_bias_through_training(tmp_path):
    watch = Watch()
    t = trainer(tiny(model="dense-300-100:use_bias=true", weight_clip=0.03), tmp_path, hooks=[watch])
    t.run()
    for step_weights in [*watch.steps.values(), weights(t.model)]:
        assert all(np.abs(w).max() <= 0.03 for w in step_weights)
    kernels = [v.numpy() for v in t.model.trainable_variables if "kernel" in v.name]
    assert len(kernels) == 3 and all(np.isclose(np.abs(w).max(), 0.03) for w in kernels)  # the bound acts


# ---- weight averaging ------------------------------------------------------------------------
def test_evaluation_sees_the_moving_average_and_training_goes_on_with_the_raw_weights(tmp_path):
    tau = 0.8
    config = tiny(optimizer="sgd", momentum=0.0, learning_rate=0.05, weight_average=tau)
    watch, evaluation = Watch(), WatchedEvaluation(PROBE)
    t = trainer(config, tmp_path, hooks=[watch], evaluation=evaluation)
    results = t.run()
    average = watch.start
    expected = {}
    for step in range(1, config.train_iters + 1):
        average = [np.float32(tau) * a + np.float32(1 - tau) * w for a, w in zip(average, watch.steps[step])]
        expected[step] = average
    for step in (20, 40):
        for seen, ema, raw in zip(evaluation.seen[step], expected[step], watch.steps[step]):
            np.testing.assert_allclose(seen, ema, rtol=1e-5, atol=1e-7)
            assert not np.allclose(seen, raw)
        # after the evaluation hooks the raw weights are back, bit for bit
        assert all(np.array_equal(a, b) for a, b in zip(watch.evals[step], watch.steps[step]))
    # steps 21.. continued from the raw weights: an SGD step moves them by less than the EMA gap
    assert not any(np.array_equal(a, b) for a, b in zip(watch.steps[21], evaluation.seen[20]))
    # at the end the model (and model.keras) hold the average, ``averaging.raw`` the raw weights
    assert all(np.array_equal(a, b) for a, b in zip(weights(t.model), evaluation.seen[40]))
    assert all(np.array_equal(r.numpy(), w) for r, w in zip(t.averaging.raw, watch.steps[40]))
    saved = load_model(os.path.join(t.run_dir.path, "model.keras"))
    assert all(np.array_equal(a, b) for a, b in zip(weights(saved), evaluation.seen[40]))
    assert results["final"]["step"] == 40


# ---- all options together: early stopping, snapshots, and resume ------------------------------
ALL = dict(objective="mix", optimizer="sgd", learning_rate=0.05, train_iters=40, eval_every=10,
           label_noise=0.2, weight_clip=0.1, weight_average=0.7, early_stopping=True, snapshots=True)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    config = tiny(**ALL)
    evaluation = WatchedEvaluation(PROBE)
    t = trainer(config, tmp_path_factory.mktemp("whole"), evaluation=evaluation)
    return t, t.run(), evaluation


def test_snapshots_hold_the_evaluated_model_of_every_evaluation_point(whole):
    t, results, evaluation = whole
    assert results["snapshots"] == [{"step": s, "path": f"snapshots/step_{s:06d}.keras"} for s in (10, 20, 30, 40)]
    assert sorted(os.listdir(os.path.join(t.run_dir.path, "snapshots"))) == [
        f"step_{s:06d}.keras" for s in (10, 20, 30, 40)]
    for entry in results["snapshots"]:
        model = load_model(os.path.join(t.run_dir.path, entry["path"]))
        assert all(np.array_equal(a, b) for a, b in zip(weights(model), evaluation.seen[entry["step"]]))
        np.testing.assert_array_equal(model(PROBE, training=False).numpy(), evaluation.outputs[entry["step"]])


def test_early_stopping_keeps_the_model_of_the_best_robust_validation_accuracy(whole):
    t, results, evaluation = whole
    metrics = t.run_dir.read_metrics()
    accuracies = [m["valid"]["fgsm:eps=0.1"]["accuracy"] for m in metrics]
    best = int(np.argmax(accuracies))  # the first of equal bests
    assert results["best"] == {"step": metrics[best]["step"], "valid_accuracy": accuracies[best],
                               "attack": "fgsm:eps=0.1"}
    model = load_model(os.path.join(t.run_dir.path, "best", "model.keras"))
    assert all(np.array_equal(a, b) for a, b in zip(weights(model), evaluation.seen[results["best"]["step"]]))
    stored = json.load(open(os.path.join(t.run_dir.path, "results.json")))
    assert stored["best"] == results["best"] and stored["snapshots"] == results["snapshots"]


def test_a_killed_run_resumes_to_the_same_average_raw_weights_best_and_snapshots(whole, tmp_path):
    t, results, evaluation = whole
    config = tiny(**ALL)
    with pytest.raises(Killed):
        trainer(config, tmp_path, hooks=[Watch(kill_at=25)]).run()  # checkpoint at 20; 21-25 are lost
    os.remove(os.path.join(tmp_path, "train", results["id"], "snapshots", "step_000010.keras"))
    resumed = trainer(config, tmp_path)
    again = resumed.run()
    assert again["resumed_from"] == 20
    assert again["final"] == results["final"] and again["best"] == results["best"]
    assert all(np.array_equal(a, b) for a, b in zip(weights(resumed.model), weights(t.model)))  # the average
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(resumed.averaging.raw, t.averaging.raw))
    snapshots = sorted(os.listdir(os.path.join(resumed.run_dir.path, "snapshots")))
    assert snapshots == [f"step_{s:06d}.keras" for s in (20, 30, 40)]  # only points after the checkpoint again


# ---- a smaller training set ------------------------------------------------------------------
def test_train_examples_keeps_the_first_examples_and_leaves_the_validation_split_alone():
    kw = dict(batch_size=50, image_shape=(10, 10, 1), train_size=600, test_size=100, valid_size=100, seed=3)
    full, small = data.load("synthetic", **kw), data.load("synthetic", max_train=120, **kw)
    assert (full.train_size, small.train_size, small.valid_size) == (500, 120, 100)
    for a, b in zip(small.train_arrays, full.train_arrays):
        assert np.array_equal(a, b[:120])
    valid = lambda s: np.concatenate([x.numpy() for x, _ in s.valid])
    assert np.array_equal(valid(small), valid(full))
    assert sum(len(y) for _, y in small.train) == 120
    with pytest.raises(ConfigError, match=re.escape("--train_examples=501 (max_train) is not allowed for dataset "
                                                    "'synthetic': only 500 training examples remain")):
        data.load("synthetic", max_train=501, **kw)


# ---- tf.distribute ---------------------------------------------------------------------------
def test_clipping_and_averaging_under_mirrored_match_one_device(tmp_path):
    common = dict(objective="mix", train_iters=20, eval_every=20, weight_clip=0.05, weight_average=0.8)
    single = trainer(tiny(**common), tmp_path / "a")
    single.run()
    mirrored = trainer(tiny(strategy="mirrored", devices=("/cpu:0", "/cpu:1"), **common), tmp_path / "b")
    mirrored.run()
    for a, b in [*zip(weights(single.model), weights(mirrored.model)),
                 *zip(single.averaging.raw, mirrored.averaging.raw)]:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    noisy = trainer(tiny(strategy="mirrored", devices=("/cpu:0", "/cpu:1"), label_noise=0.5, **common), tmp_path / "c")
    noisy.run()
    raw = [r.numpy() for r in noisy.averaging.raw]
    assert all(np.abs(w).max() <= 0.05 for w in raw)
    assert not np.allclose(raw[0], np.asarray(mirrored.averaging.raw[0]))
