"""Hooks: state saved in the checkpoint, standard hooks replaced, regularisers added, resume at the end."""
import dataclasses
import json
import re
import os

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.build import build
from tfrobust.errors import TfrobustError
from tfrobust.experiment import RunDir
from tfrobust.training import Divergence, Evaluation, Hook, TrainConfig, Trainer, train

DATA = "synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"
CONFIG = TrainConfig(dataset=DATA, valid_size=100, batch_size=20, eval_batch_size=100, train_iters=40,
                     eval_every=10, objective="mix", attack="fgsm:eps=0.1")


class Killed(Exception):
    pass


class Counter(Hook):
    """Counts optimizer steps in a variable saved with the checkpoint; can stop the run at a step."""

    def __init__(self, kill_at=None):
        self.kill_at, self.seen = kill_at, []

    def state(self, trainer):
        self.count = tf.Variable(0, dtype=tf.int64, name="count")
        return {"counter": self.count}

    def before_train(self, trainer, start_step):
        self.start = int(self.count.numpy())

    def after_step(self, trainer, step):
        self.count.assign_add(1)
        self.seen.append(int(self.count.numpy()))
        if step == self.kill_at:
            raise Killed


def run(base, config=CONFIG, **kw):
    return Trainer(build(config), RunDir.for_config(str(base), config.experiment, config), **kw).run()


def test_hook_state_is_restored_so_a_resumed_run_is_exact(tmp_path):
    whole = Counter()
    expected = run(tmp_path / "whole", hooks=[whole])
    with pytest.raises(Killed):
        run(tmp_path / "killed", hooks=[Counter(kill_at=25)])
    resumed = Counter()
    results = run(tmp_path / "killed", hooks=[resumed])
    assert results["resumed_from"] == 20 and resumed.start == 20  # the checkpoint at 20 held count 20
    assert resumed.seen == whole.seen[20:] and resumed.seen[-1] == 40
    assert results["final"] == expected["final"]


def test_a_run_killed_after_its_last_checkpoint_finishes_without_training(tmp_path):
    first = train(CONFIG, str(tmp_path), hooks=[Counter()])
    path = os.path.join(str(tmp_path), "train", first["id"])
    os.remove(os.path.join(path, "results.json"))  # killed between the last checkpoint and results.json
    hook = Counter()
    again = train(CONFIG, str(tmp_path), hooks=[hook])
    assert again["resumed_from"] == 40 and hook.seen == [] and again["final"] == first["final"]
    assert os.path.exists(os.path.join(path, "results.json"))


def test_a_checkpoint_without_a_hooks_state_is_a_clear_error(tmp_path):
    with pytest.raises(Killed):
        run(tmp_path, hooks=[Counter(kill_at=15)])
    with pytest.raises(TfrobustError, match="does not hold this run's state .*counter.*rerun with --force"):
        run(tmp_path, hooks=[Counter(), Renamed()])


class Renamed(Counter):
    def state(self, trainer):
        return {"other_counter": tf.Variable(0, dtype=tf.int64)}


def test_metrics_written_after_the_last_checkpoint_are_dropped_on_resume(tmp_path):
    run_dir = RunDir.for_config(str(tmp_path), CONFIG.experiment, CONFIG)
    run_dir.prepare()
    run_dir.append_metrics({"step": 10, "train_loss": 9.0})  # killed before its first checkpoint
    run(tmp_path)
    steps = [m["step"] for m in run_dir.read_metrics()]
    assert steps == [10, 20, 30, 40] and run_dir.read_metrics()[0]["train_loss"] != 9.0


def test_a_standard_hook_can_be_replaced(tmp_path):
    results = run(tmp_path, evaluation=Evaluation(attacks={}, splits=("test",)))
    assert set(results["final"]) >= {"test", "weights"} and "valid" not in results["final"]
    assert set(results["final"]["test"]) == {"natural"}


def test_two_hooks_cannot_save_state_under_one_name(tmp_path):
    with pytest.raises(ValueError, match="two hooks save state named 'counter'"):
        run(tmp_path, hooks=[Counter(), Counter()])


def test_a_regulariser_term_joins_the_loss(tmp_path):
    """A strong pull of every kernel to zero (an ADMM-like term) shrinks the weights."""
    def pull_to_zero(model):
        return 10.0 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in model.trainable_variables])

    setup = build(CONFIG)
    pulled = dataclasses.replace(setup, regularizers=setup.regularizers + (pull_to_zero,))
    plain_trainer = Trainer(setup, RunDir.for_config(str(tmp_path / "a"), "train", CONFIG))
    plain_trainer.run()
    pulled_trainer = Trainer(pulled, RunDir.for_config(str(tmp_path / "b"), "train", CONFIG))
    pulled_trainer.run()
    norm = lambda m: sum(float(np.sum(np.square(v.numpy()))) for v in m.trainable_variables)
    assert norm(pulled_trainer.model) < 0.5 * norm(plain_trainer.model)


def test_the_run_directory_records_every_evaluation_once(tmp_path):
    results = train(CONFIG, str(tmp_path))
    lines = open(os.path.join(str(tmp_path), "train", results["id"], "metrics.jsonl")).read().splitlines()
    assert [json.loads(l)["step"] for l in lines] == [10, 20, 30, 40]


class FakeTrainer:
    def __init__(self):
        self.logs = {}


@pytest.mark.parametrize("losses,message", [
    ([2.0, 3.0, 1999.0, 2001.0], "the training loss diverged: 2001 at iteration 4, more than 1000 times its start"),
    ([0.01, 999.0, 1001.0], "diverged: 1001 at iteration 3"),  # a start below 1 counts as 1
    ([2.0, float("inf")], "the training loss became inf at iteration 2"),
    ([float("nan")], "the training loss became NaN at iteration 1"),
])
def test_divergence_stops_at_the_first_bad_loss(losses, message):
    hook, trainer = Divergence(), FakeTrainer()
    hook.before_train(trainer, 0)
    with pytest.raises(TfrobustError, match=re.escape(message)):
        for step, loss in enumerate(losses, 1):
            trainer.logs["loss"] = loss
            hook.after_step(trainer, step)
    assert step == len(losses)


def test_a_diverging_run_stops_with_an_error_and_writes_no_results(tmp_path):
    config = dataclasses.replace(CONFIG, optimizer="sgd", learning_rate=1e6, momentum=0.0)
    with pytest.raises(TfrobustError, match="the training loss (diverged|became)"):
        train(config, str(tmp_path))
    assert os.listdir(tmp_path) == []  # nor anything else: the failed run removed what it wrote
