"""Training steps: what a batch turns into before the loss (clean and/or adversarial inputs).

A step returns ``[(inputs, weight), ...]``; the training loop sums ``weight * loss(model(inputs))``.
``natural``: the clean batch. ``adversarial``: the clean batch weighted ``1 - adv_weight`` and the
attacked batch weighted ``adv_weight`` (a weight of 0 skips that forward pass). Attacks run with the
model in inference mode and outside the gradient tape; their output is a constant for the update.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.registry import Registry

STEPS: Registry = Registry("training step")


@STEPS.register("natural")
class NaturalStep:
    def __init__(self, attack: Attack = None, adv_weight: float = 0.0):
        del attack, adv_weight

    def inputs(self, model, x, y, seed):
        return [(x, 1.0)]


@STEPS.register("adversarial")
class AdversarialStep:
    def __init__(self, attack: Attack, adv_weight: float = 0.5):
        self.attack, self.adv_weight = attack, float(adv_weight)

    def inputs(self, model, x, y, seed):
        parts = []
        if self.adv_weight < 1.0:
            parts.append((x, 1.0 - self.adv_weight))
        if self.adv_weight > 0.0:
            parts.append((tf.stop_gradient(self.attack.perturb(model, x, y, seed)), self.adv_weight))
        return parts


def smoothed_loss(logits, y, num_classes: int, label_smoothing: float):
    """Per-example softmax cross-entropy against labels smoothed by ``label_smoothing``."""
    if label_smoothing == 0.0:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits)
    target = tf.one_hot(tf.cast(y, tf.int32), num_classes)
    target = target * (1.0 - label_smoothing) + label_smoothing / num_classes
    return tf.nn.softmax_cross_entropy_with_logits(target, logits)
