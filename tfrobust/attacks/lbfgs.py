"""The GTN robustness tests' L-BFGS-style attack (seed 004): gradient ascent with an L2 penalty.

``steps`` times: ``x <- clip(x + lr * (grad_x CE(model(x), y) - (1/beta) grad_x ||x - x0||_2))``.
A larger ``beta`` penalises distance less, so outputs move further. The penalty's gradient is
``(x - x0) / ||x - x0||``, taken as zero at ``x = x0``.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.attacks.base import GradientAttack, per_example_norm


@dataclasses.dataclass(frozen=True)
class LBFGSPenalty(GradientAttack):
    name = "lbfgs"
    norm = "l2"

    beta: float = 1.0
    lr: float = 0.002
    steps: int = 30

    def validate(self):
        super().validate()
        self._check_number("beta", strict=True)
        self._check_number("lr")
        self._check_count("steps")

    def perturb(self, model, x, y, seed):
        y = self.labels(model, x, y)
        x_adv = x
        for _ in tf.range(self.steps):
            _, grad, _ = self.objective_and_gradient(model, x_adv, y)
            delta = x_adv - x
            penalty_grad = delta / tf.maximum(per_example_norm(delta), 1e-12)
            x_adv = tf.clip_by_value(x_adv + self.lr * (grad - penalty_grad / self.beta), 0.0, 1.0)
        return x_adv
