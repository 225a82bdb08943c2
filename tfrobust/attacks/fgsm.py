"""The fast gradient sign method (Goodfellow et al.): one step of size eps along the gradient's sign."""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.attacks.base import GradientAttack


@dataclasses.dataclass(frozen=True)
class FGSM(GradientAttack):
    name = "fgsm"

    eps: float = 0.3

    def validate(self):
        super().validate()
        self._check_number("eps")

    @property
    def radius(self):
        return self.eps

    def perturb(self, model, x, y, seed):
        y = self.labels(model, x, y)
        _, grad, _ = self.objective_and_gradient(model, x, y)
        return tf.clip_by_value(x + self.eps * tf.sign(grad), 0.0, 1.0)
