"""Each sanity check of an evaluation fires on a model or attack built to trip it, and stays
silent on a normal one."""
import dataclasses

import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import PGD, from_spec
from tfrobust.attacks.base import Attack
from tfrobust.sanity import check_evaluation


def statuses(report):
    return {(c["check"], c["attack"]): c["status"] for c in report["checks"]}


def fired(report):
    return {c["check"] for c in report["checks"] if c["status"] == "warning"}


def wrap(model, before=None, after=None):
    inputs = keras.Input(model.input_shape[1:])
    h = before()(inputs) if before else inputs
    h = model(h)
    return keras.Model(inputs, after()(h) if after else h)


class Noisy(keras.layers.Layer):
    """Random at inference too: a randomised defence."""

    def call(self, x):
        return x + tf.random.normal(tf.shape(x), stddev=0.5)


class Frozen(keras.layers.Layer):
    """The identity, with every input gradient zero: a gradient-masking defence."""

    def call(self, x):
        return tf.stop_gradient(x) + 0.0 * x


@dataclasses.dataclass(frozen=True)
class IgnoresEps(Attack):
    """Adds the same large perturbation whatever its radius: a broken attack."""

    name = "ignores_eps"
    eps: float = 0.1

    @property
    def radius(self):
        return self.eps

    def perturb(self, model, x, y, seed):
        return tf.clip_by_value(x + 0.5 * tf.sign(tf.random.stateless_normal(tf.shape(x), [1, 2])), 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class WeakerWithEps(Attack):
    """PGD at radius 0.15 - eps: weaker as eps grows."""

    name = "weaker_with_eps"
    eps: float = 0.1

    @property
    def radius(self):
        return self.eps

    def perturb(self, model, x, y, seed):
        r = max(0.15 - self.eps, 0.0)
        return PGD(eps=r, step_size=r / 4 + 1e-6, steps=10).perturb(model, x, y, seed)


def check(model, batch, attacks, results=None):
    x, y = batch
    x, y = x[:100], y[:100]
    named = {a.label: a for a in attacks}
    return check_evaluation(model, x, y, named, results or {}, num_classes=10)


def test_a_normal_model_and_sound_attacks_raise_no_warning(trained_model, test_batch):
    report = check(trained_model, test_batch,
                   [from_spec("fgsm:eps=0.1"), from_spec("pgd:eps=0.1,step_size=0.01,steps=20"),
                    from_spec("apgd:eps=0.1,steps=20")])
    assert report["warnings"] == [] and report["examples"] == 100
    assert {c["check"] for c in report["checks"]} == {
        "logits", "randomness", "gradients", "zero_radius", "monotone", "single_step", "large_radius"}


def test_a_softmax_output_is_flagged(trained_model, test_batch):
    report = check(wrap(trained_model, after=keras.layers.Softmax), test_batch, [])
    assert fired(report) == {"logits"}
    assert "probabilities" in report["warnings"][0]


def test_a_model_random_at_inference_is_flagged(trained_model, test_batch):
    report = check(wrap(trained_model, before=Noisy), test_batch, [])
    assert "randomness" in fired(report) and "version=rand" in " ".join(report["warnings"])


def test_a_gradient_masking_model_is_flagged(trained_model, test_batch):
    report = check(wrap(trained_model, before=Frozen), test_batch, [from_spec("fgsm:eps=0.1")])
    assert "gradients" in fired(report)
    assert "100.0% of the examples have a zero or non-finite input gradient" in " ".join(report["warnings"])


def test_an_attack_that_ignores_its_radius_fails_the_zero_radius_check(trained_model, test_batch):
    report = check(trained_model, test_batch, [IgnoresEps()])
    assert statuses(report)[("zero_radius", "ignores_eps")] == "warning"


def test_an_attack_weaker_at_a_larger_radius_fails_the_monotone_check(trained_model, test_batch):
    report = check(trained_model, test_batch, [WeakerWithEps()])
    assert statuses(report)[("monotone", "weaker_with_eps")] == "warning"


def test_an_iterative_attack_weaker_than_one_step_fails_and_cannot_reach_chance(trained_model, test_batch):
    weak = PGD(eps=0.1, step_size=0.0005, steps=3, random_start=False)
    report = check(trained_model, test_batch, [weak])
    assert statuses(report)[("single_step", weak.label)] == "warning"
    assert statuses(report)[("large_radius", weak.label)] == "warning"
    assert statuses(report)[("zero_radius", weak.label)] == "ok"


@pytest.mark.parametrize("after_square,warns", [(0.49, True), (0.4978, True), (0.498, False), (0.499, False)])
def test_a_square_stage_that_beats_the_white_box_stages_is_flagged(trained_model, test_batch, after_square, warns):
    results = {"natural": {"accuracy": 0.9},
               "aa": {"accuracy": after_square, "stages": [{"stage": "apgd-ce", "accuracy": 0.5},
                                                           {"stage": "square", "accuracy": after_square}]}}
    report = check(trained_model, test_batch, [], results)
    assert (("square", "aa") in {(c["check"], c["attack"]) for c in report["checks"] if c["status"] == "warning"}) == warns


@pytest.mark.parametrize("square_acc,warns", [(0.45, True), (0.499, False)])
def test_a_square_attack_that_beats_white_box_attacks_at_its_radius_is_flagged(trained_model, test_batch,
                                                                                square_acc, warns):
    square = from_spec("square:eps=0.1,queries=20")
    pgd = from_spec("pgd:eps=0.1,step_size=0.02,steps=5")
    results = {"natural": {"accuracy": 0.9}, square.label: {"accuracy": square_acc}, pgd.label: {"accuracy": 0.5}}
    report = check(trained_model, test_batch, [square, pgd], results)
    assert (statuses(report)[("square", square.label)] == "warning") == warns
    assert statuses(report)[("single_step", square.label)] == "skipped"
