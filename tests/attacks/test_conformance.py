"""Every registered attack on every kind of model, in the situations that empty a stage.

Parametrised over the attack registry: a new attack is covered without editing a list. Each attack
runs at small settings (:func:`small`): the fields that set its cost, where it has them, cut down.
With TensorFlow's defaults (oneDNN on), each case asserts: no exception; ``x_adv`` inside the
attack's ball and the [0, 1] box; no example robust that was misclassified (but for the one-shot and
last-iterate attacks of ``MAY_HELP``); pass counts that add up. The models: dense-300-100, lenet at widths
1, 4 and 8, a small resnet with batch norm on 32x32 inputs, a factorized lenet and a quantized
dense net. The situations: wrong on every example at the start, a radius that breaks every
example in the first stage, nothing breakable (a constant model), one example, zero examples, and
an evaluation whose batch size does not divide the set.
"""
import dataclasses
import functools

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust import models
from tfrobust.attacks.base import distance
from tfrobust.attacks.registry import ATTACKS, make_attack
from tfrobust.evaluation import evaluate
from tfrobust.layers.factorized import to_factorized
from tfrobust.layers.quantized import to_quantized

CLASSES = 10
# The fields that set an attack's cost, and their values here. A field an attack lacks is skipped.
SMALL = {"steps": 3, "restarts": 1, "queries": 20, "binary_steps": 2, "target_classes": 2, "eot_iter": 1,
         "candidates": 3, "iterations": 3}
EPS = {"linf": (0.1, 1.0), "l2": (1.0, 30.0)}  # (a moderate radius, one that covers the box)
# One-shot and last-iterate attacks: they do not keep the clean input as a candidate, so they may move a
# misclassified example back to its class.
MAY_HELP = ("fgsm", "gaussian_noise", "gaussian_blur", "iterated_fgsm", "wrm", "lbfgs")


@functools.lru_cache(maxsize=None)
def small(name, eps=None):
    """The registered attack ``name`` at small settings, at radius ``eps`` where it has one (one
    object per setting, so that its compiled graphs serve every test of a model)."""
    fields = {f.name for f in dataclasses.fields(ATTACKS.get(name))}
    settings = {k: v for k, v in SMALL.items() if k in fields}
    if eps is not None and "eps" in fields:
        settings["eps"] = eps
    return make_attack(name, **settings)


def _lenet(width, shape=(10, 10, 1)):
    return models.build_model("lenet", shape, CLASSES, seed=width, width=width)


MODELS = {
    "dense-300-100": lambda: models.build_model("dense-300-100", (10, 10, 1), CLASSES, seed=0),
    "lenet-1": lambda: _lenet(1),
    "lenet-4": lambda: _lenet(4),
    "lenet-8": lambda: _lenet(8),
    "resnet-bn-32": lambda: models.build_model("resnet18", (32, 32, 3), CLASSES, seed=0, width=2),
    "factorized": lambda: to_factorized(_lenet(2)),
    "quantized": lambda: to_quantized(models.build_model("dense-300-100", (10, 10, 1), CLASSES, seed=0), bits=4),
}
_BUILT = {}


def model_named(name):
    if name not in _BUILT:
        _BUILT[name] = MODELS[name]()
    return _BUILT[name]


def constant_model(shape=(10, 10, 1)):
    """Logits that do not depend on the input: class 0 always wins, nothing can be broken."""
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(CLASSES, kernel_initializer="zeros",
                             bias_initializer=keras.initializers.Constant([5.0] + [0.0] * (CLASSES - 1)))(x)
    return keras.Model(inputs, out)


def inputs(model, n, seed=0):
    """``n`` random inputs and the model's predictions on them (so every example starts correct)."""
    x = np.random.default_rng(seed).uniform(size=(n, *model.input_shape[1:])).astype(np.float32)
    y = np.argmax(model(x, training=False).numpy(), axis=-1).astype(np.int64) if n else np.zeros([0], np.int64)
    return x, y


def run(attack, model, x, y):
    """``(x_adv, passes or None)`` through the attack's own compiled entry point."""
    if attack.counts_passes:
        x_adv, passes = attack.run(model, x, y)
        return x_adv.numpy(), passes.numpy()
    return attack(model, x, y).numpy(), None


def check(attack, model, x, y, x_adv, passes):
    """The invariants of one attack call; returns the per-example correctness after it."""
    assert x_adv.shape == x.shape and np.all(np.isfinite(x_adv))
    assert np.all((x_adv >= 0.0) & (x_adv <= 1.0))
    if attack.radius is not None and len(x):
        assert np.all(distance(tf.constant(x_adv), tf.constant(x), attack.norm).numpy() <= attack.radius * (1 + 1e-5) + 1e-6)
    correct_clean = np.argmax(model(x, training=False).numpy(), -1) == y if len(x) else np.zeros([0], bool)
    correct = np.argmax(model(x_adv, training=False).numpy(), -1) == y if len(x) else np.zeros([0], bool)
    if attack.name not in MAY_HELP:
        assert not np.any(correct & ~correct_clean), "an attack made a misclassified example robust"
    if passes is not None:
        assert passes.dtype == np.int64 and passes.shape == (2,)
        assert np.all(passes >= 0) and passes[0] >= len(x), passes  # at least the clean pass of each
        if not len(x):
            assert passes.tolist() == [0, 0]
    return correct


@pytest.fixture(scope="module", params=sorted(ATTACKS.names()))
def attack_name(request):
    return request.param


@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_wrong_at_start(attack_name, model_name):
    model = model_named(model_name)
    attack = small(attack_name)
    x, y = inputs(model, 6)
    wrong = (y + 1) % CLASSES
    x_adv, passes = run(attack, model, x, wrong)  # every stage and target loop gets no example
    correct = check(attack, model, x, wrong, x_adv, passes)
    if attack.name not in MAY_HELP:
        assert not np.any(correct)
    if attack.counts_passes:  # attacks that work on the examples still robust: none here
        np.testing.assert_array_equal(x_adv, x)  # every row returns its input


@pytest.mark.parametrize("model_name", ["dense-300-100", "lenet-1", "lenet-4", "lenet-8", "factorized"])
def test_the_first_stage_breaks_every_example(attack_name, model_name):
    model = model_named(model_name)
    large = small(attack_name, EPS[getattr(small(attack_name), "norm", "linf")][1])  # the whole box
    x, y = inputs(model, 6)
    check(large, model, x, y, *run(large, model, x, y))


@pytest.mark.parametrize("model_name", ["dense-300-100", "lenet-4", "resnet-bn-32"])
def test_one_example_and_zero_examples(attack_name, model_name):
    model = model_named(model_name)
    attack = small(attack_name)
    x, y = inputs(model, 1)
    check(attack, model, x, y, *run(attack, model, x, y))
    x0, y0 = x[:0], y[:0]
    x_adv, passes = run(attack, model, x0, y0)
    check(attack, model, x0, y0, x_adv, passes)


def test_nothing_can_be_broken(attack_name):
    model = constant_model()
    attack = small(attack_name, EPS[getattr(small(attack_name), "norm", "linf")][0])
    x, _ = inputs(model, 4)
    y = np.zeros([4], np.int64)
    correct = check(attack, model, x, y, *run(attack, model, x, y))
    assert np.all(correct)


@pytest.mark.parametrize("model_name", ["lenet-1", "factorized"])
def test_an_evaluation_whose_batch_size_does_not_divide_the_set(attack_name, model_name):
    model = model_named(model_name)
    attack = small(attack_name)
    x, y = inputs(model, 7, seed=3)
    y[:3] = (y[:3] + 1) % CLASSES  # three start wrong
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(7)
    results = evaluate(model, data, {"a": attack}, batch_size=3, checks=False, seed=0, timing=False)
    assert results["natural"]["accuracy"] == pytest.approx(4 / 7)
    if attack.name not in MAY_HELP:
        assert results["a"]["accuracy"] <= results["natural"]["accuracy"]
    stages = results["a"].get("stages", [])
    assert [s["accuracy"] for s in stages] == sorted((s["accuracy"] for s in stages), reverse=True)
    if attack.counts_passes:
        assert results["a"]["forward"] >= 7 and results["a"]["backward"] >= 0
