"""Iterated FGSM without projection: the GTN robustness tests' attack (seed 004).

``steps`` times: ``x <- clip(x + step_size * sign(grad))``. There is no epsilon-ball; an output
lies within ``steps * step_size`` of the input in L-infinity.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.attacks.base import GradientAttack


@dataclasses.dataclass(frozen=True)
class IteratedFGSM(GradientAttack):
    name = "iterated_fgsm"

    step_size: float = 0.01
    steps: int = 30

    def validate(self):
        super().validate()
        self._check_number("step_size")
        self._check_count("steps")

    @property
    def radius(self):
        return self.steps * self.step_size

    def perturb(self, model, x, y, seed):
        y = self.labels(model, x, y)
        x_adv = x
        for _ in tf.range(self.steps):
            _, grad, _ = self.objective_and_gradient(model, x_adv, y)
            x_adv = tf.clip_by_value(x_adv + self.step_size * tf.sign(grad), 0.0, 1.0)
        return x_adv
