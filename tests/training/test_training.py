import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.build import build, check
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.layers import get_masks, masked_layers, set_masks
from tfrobust.training import Hook, TrainConfig, Trainer, train
from tfrobust.training.objectives import smoothed_loss
from tfrobust.training.optim import make_schedule

from tiny_runs import DATA, tiny  # noqa: E402


def trainer(config, base_dir, **kw):
    return Trainer(build(config), RunDir.for_config(str(base_dir), config.experiment, config), **kw)


@pytest.mark.parametrize("kw,message", [
    (dict(objective="pgd"), "--objective=pgd: unknown training objective 'pgd'; known: awp, entropy_sgd, madry, mart, mix, natural, rotation, rwp, trades"),
    (dict(objective="mix:beta=1"), "--objective=mix:beta=1: 'mix:beta=1': training objective 'mix' has no option 'beta'"),
    (dict(optimizer="lbfgs"), "--optimizer='lbfgs' is not allowed; allowed: adam, sgd"),
    (dict(experiment="../elsewhere"), "--experiment='../elsewhere' is not allowed; it must be a plain directory name"),
    (dict(batch_size=0), "--batch_size=0 is not allowed"),
    (dict(schedule="piecewise", lr_boundaries=(10,), lr_factors=()), "--lr_boundaries"),
    (dict(strategy="tpu"), "allowed: default, mirrored, multi_worker"),
])
def test_config_rejects_bad_values_naming_the_flag(kw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tiny(**kw)


@pytest.mark.parametrize("kw,message", [
    (dict(attack="pgd:eps=-0.1"), "--attack=pgd:eps=-0.1: attack 'pgd': eps=-0.1 is not allowed"),
    (dict(attack="cw"), "--attack=cw: unknown attack 'cw'"),
    (dict(objective="mix:adv_weight=1.5"), "--objective=mix:adv_weight=1.5: objective 'mix': adv_weight=1.5 is "
                                           "not allowed; it must be in [0, 1]"),
    (dict(objective="trades", attack="fgsm"), "--objective=trades: objective 'trades' takes its ascent's eps"),
])
def test_bad_specs_are_named_with_their_flag_before_any_data_loads(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check(tiny(**kw))


def test_schedules():
    piecewise = make_schedule(tiny(schedule="piecewise", learning_rate=1.0, lr_boundaries=(10, 20), lr_factors=(0.1, 0.01)))
    assert [float(piecewise(s)) for s in (0, 10, 11, 21)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    cosine = make_schedule(tiny(schedule="cosine", learning_rate=1.0, train_iters=100, min_lr_factor=0.1))
    assert float(cosine(0)) == pytest.approx(1.0) and float(cosine(100)) == pytest.approx(0.1)
    assert float(cosine(50)) == pytest.approx(0.1 + 0.9 * 0.5)
    cyclic = make_schedule(tiny(schedule="cyclic", learning_rate=1.0, cycle_iters=10, min_lr_factor=0.0))
    assert [float(cyclic(s)) for s in (0, 5, 10, 15)] == pytest.approx([0.0, 1.0, 0.0, 1.0])
    assert make_schedule(tiny(learning_rate=0.5)) == 0.5


def test_the_restart_schedule_starts_its_piecewise_rates_again_every_cycle():
    restart = make_schedule(tiny(schedule="restart", learning_rate=1.0, cycle_iters=9, lr_boundaries=(3, 6),
                                 lr_factors=(0.1, 0.01)))
    rates = [float(restart(s)) for s in range(19)]
    assert rates == pytest.approx([1, 1, 1, 1, .1, .1, .1, .01, .01] * 2 + [1])
    assert float(restart(tf.constant(9 * 1000 + 4, tf.int64))) == pytest.approx(0.1)


@pytest.mark.parametrize("kw, message", [
    (dict(schedule="restart", cycle_iters=9, lr_boundaries=(3, 9), lr_factors=(0.1, 0.01)), "below --cycle_iters=9"),
    (dict(schedule="restart", lr_boundaries=(3,), lr_factors=()), "as many --lr_factors"),
])
def test_bad_restart_schedules_name_the_flag(kw, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        tiny(**kw)


def test_label_smoothing_matches_the_formula():
    logits = tf.constant([[2.0, 0.0, -1.0]])
    y = tf.constant([0])
    p = tf.nn.log_softmax(logits)[0].numpy()
    target = np.array([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3])
    assert float(smoothed_loss(logits, y, 3, 0.1)[0]) == pytest.approx(-(target * p).sum(), rel=1e-6)
    assert float(smoothed_loss(logits, y, 3, 0.0)[0]) == pytest.approx(-p[0], rel=1e-6)


def test_adversarial_training_learns_and_writes_its_run_directory(tmp_path):
    config = tiny(objective="mix", train_iters=60, eval_every=30)
    results = train(config, str(tmp_path))
    run = os.path.join(str(tmp_path), "train", results["id"])
    assert sorted(os.listdir(run)) == ["checkpoints", "config.json", "metrics.jsonl", "model.keras", "results.json", "tb"]
    assert json.load(open(os.path.join(run, "config.json"))) == config.to_dict()
    lines = [json.loads(l) for l in open(os.path.join(run, "metrics.jsonl"))]
    assert [l["step"] for l in lines] == [30, 60]
    assert set(lines[-1]["valid"]) == {"natural", "fgsm:eps=0.1"}
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    assert results["final"]["test"]["natural"]["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert os.listdir(os.path.join(run, "tb"))
    # same config, same directory: a finished run is not redone
    again = train(config, str(tmp_path))
    assert again == json.load(open(os.path.join(run, "results.json")))
    # a different config never shares the directory
    other = train(tiny(objective="madry", train_iters=20, eval_every=20), str(tmp_path))
    assert other["id"] != results["id"]


class PruneHalfAtStart(Hook):
    def before_train(self, trainer, start_step):
        rng = np.random.default_rng(0)
        self.masks = {n: (rng.random(m.shape) < 0.5).astype(np.float32) for n, m in get_masks(trainer.model).items()}
        set_masks(trainer.model, self.masks)


def test_hooks_act_and_masked_weights_stay_zero_through_the_loop(tmp_path):
    hook = PruneHalfAtStart()
    t = trainer(tiny(objective="mix", l1_reg=1e-4, optimizer="sgd", nesterov=True, weight_decay=1e-3),
                tmp_path, hooks=[hook])
    results = t.run()
    for layer in masked_layers(t.model):
        assert np.all(layer.kernel.numpy()[hook.masks[layer.name] == 0] == 0)
    fraction = results["final"]["weights"]["total"]["fraction"]
    assert 0.45 < fraction < 0.55


def test_mirrored_on_two_cpus_matches_one_device(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) == 2
    common = dict(objective="mix", attack="fgsm:eps=0.1", train_iters=20, eval_every=20)
    single = trainer(tiny(**common), tmp_path / "a")
    single.run()
    mirrored = trainer(tiny(strategy="mirrored", devices=("/cpu:0", "/cpu:1"), **common), tmp_path / "b")
    mirrored.run()
    assert mirrored.setup.strategy.num_replicas_in_sync == 2
    for a, b in zip(single.model.trainable_variables, mirrored.model.trainable_variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
