"""One pass for the clean and adversarial halves: the gradient of the two-pass version."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import attacks, models
from tfrobust.training.objectives import OBJECTIVES, batch_dependent, kl_divergence

ATTACK = attacks.from_spec("pgd:eps=0.1,step_size=0.03,steps=3", training=True)


def objective(spec):
    name, _, option = spec.partition(":")
    options = dict([option.split("=")]) if option else {}
    return OBJECTIVES.get(name)(attack=ATTACK, **{k: float(v) for k, v in options.items()})


def two_pass_loss(name, obj, model, x, y, x_adv):
    """The objectives as written before the fused pass: one forward pass per batch."""
    if name == "mix":
        return 0.5 * obj.cross_entropy(model(x, training=True), y) + 0.5 * obj.cross_entropy(
            model(x_adv, training=True), y)
    logits, logits_adv = model(x, training=True), model(x_adv, training=True)
    if name == "trades":
        return obj.cross_entropy(logits, y) + obj.beta * tf.reduce_mean(kl_divergence(tf.nn.softmax(logits), logits_adv))
    return None


@pytest.mark.parametrize("model_spec,shape", [("dense-300-100", (10, 10, 1)), ("lenet", (12, 12, 1))])
@pytest.mark.parametrize("name", ["mix", "trades"])
def test_the_fused_gradient_equals_the_two_pass_gradient(model_spec, shape, name):
    model = models.build_model(model_spec, shape, 10, seed=3)
    assert not batch_dependent(model)
    x = tf.random.stateless_uniform([16, *shape], [1, 2])
    y = tf.random.stateless_uniform([16], [3, 4], 0, 10, tf.int64)
    seed = tf.constant([7, 8], tf.int64)
    obj = objective(name)
    with tf.GradientTape() as tape:
        fused, _ = obj.loss(model, x, y, seed)
    fused_grads = tape.gradient(fused, model.trainable_variables)
    if name == "mix":
        x_adv = obj.adversarial(model, x, y, seed)
    else:
        x_adv = obj.kl_ascent(model, x, tf.nn.softmax(model(x, training=False)), seed)
    with tf.GradientTape() as tape:
        reference = two_pass_loss(name, obj, model, x, y, x_adv)
    reference_grads = tape.gradient(reference, model.trainable_variables)
    assert float(fused) == pytest.approx(float(reference), rel=1e-5)
    for a, b in zip(fused_grads, reference_grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)


def test_batch_norm_keeps_two_passes_and_their_statistics():
    model = models.build_model("resnet18", (8, 8, 3), 10, seed=0, width=4)
    assert batch_dependent(model)
    x = tf.random.stateless_uniform([6, 8, 8, 3], [1, 2])
    y = tf.constant([0, 1, 2, 3, 4, 5], tf.int64)
    seed = tf.constant([7, 8], tf.int64)
    obj = objective("mix")
    weights = model.get_weights()
    with tf.GradientTape() as tape:
        loss, _ = obj.loss(model, x, y, seed)
    grads = tape.gradient(loss, model.trainable_variables)
    after = model.get_weights()
    model.set_weights(weights)  # the moving statistics back where they were
    with tf.GradientTape() as tape:
        clean = obj.cross_entropy(model(x, training=True), y)
        x_adv = obj.adversarial(model, x, y, seed)  # the attack sees the statistics the clean pass moved
        reference = 0.5 * clean + 0.5 * obj.cross_entropy(model(x_adv, training=True), y)
    reference_grads = tape.gradient(reference, model.trainable_variables)
    assert float(loss) == float(reference)
    for a, b in zip(grads, reference_grads):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(after, model.get_weights()):  # two updates of the moving statistics, as before
        np.testing.assert_array_equal(a, b)
