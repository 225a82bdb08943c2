"""WRM: the Wasserstein robust method's inner maximisation (Sinha, Namkoong & Duchi 2018,
"Certifying some distributional robustness with principled adversarial training"), as ATMC's
MNIST code (shupenggui/ATMC ``mnist/util.py``, ``wrm``) runs it to evaluate its models (seed 002).

Per example it approximately solves the Lagrangian (penalty) problem

    max_{x'}  gamma * loss(model(x'), y) - 0.5 * ||x' - x||_2^2

by gradient ascent: from ``x`` (or, with ``random_start``, a uniform random point of the L-inf
ball of radius ``eps`` around ``x``, clipped to [0, 1]), ``steps`` steps

    x' <- clip(x' + step_size / sqrt(t + 1) * (gamma * grad_x' loss - (x' - x)), 0, 1),  t = 0, 1, ...

The objective is summed over the batch, so each example follows its own gradient and its result
does not depend on its batch. ``loss`` is the attack's objective: the cross-entropy, or minus the
target's cross-entropy with ``targeted`` (labels as every gradient attack takes them: ``y``, or the
model's predictions when ``y`` is None or ``predicted_labels``).

As in the reference, ``gamma`` multiplies the loss and the penalty weight is fixed at 0.5: the
attack solves ``max gamma * loss - 0.5 ||x' - x||^2``, i.e. pays a penalty of ``1 / (2 gamma)``
per unit of squared L2 distance for each unit of loss. A LARGER ``gamma`` is a STRONGER attack
(outputs move further); Sinha et al. write the same problem as ``loss - gamma' ||x' - x||^2``,
with ``gamma' = 1 / (2 gamma)`` here.

``eps`` > 0: at the end the point is projected onto the L-inf ball of radius ``eps`` around ``x``
and clipped to [0, 1] (the reference's ``linfball_proj(x, eps, x_adv)``), so ``radius`` is ``eps``.
``eps`` = 0 (the default) means no projection: the unconstrained penalty form, whose ``radius`` is
None (unbounded; the evaluation's radius checks skip it), and ``random_start`` draws from the ball
of radius 0: it changes nothing. ``with_radius(0)`` (the sanity checks' "radius zero") is the
exception: it also sets ``step_size`` to 0, so that attack returns its input.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.attacks.base import GradientAttack


@dataclasses.dataclass(frozen=True)
class WRM(GradientAttack):
    name = "wrm"
    norm = "linf"  # the norm of ``eps``'s projection
    penalty = True  # the sanity checks: gamma, not eps, sets how far it goes

    gamma: float = 1.3
    steps: int = 15
    step_size: float = 1.0
    eps: float = 0.0
    random_start: bool = False

    def validate(self):
        super().validate()
        self._check_number("gamma", strict=True)
        self._check_count("steps")
        self._check_number("step_size", strict=True)
        self._check_number("eps")
        self._check_bool("random_start")

    @property
    def radius(self):
        return self.eps if self.eps > 0 else None

    def with_radius(self, eps):
        """WRM projected onto radius ``eps``; at 0 also with ``step_size`` 0 (an attack that
        returns its input), since ``eps=0`` as a setting means "no projection"."""
        moved = super().with_radius(eps)
        if eps == 0:
            object.__setattr__(moved, "step_size", 0.0)
        return moved

    def perturb(self, model, x, y, seed):
        if self.step_size == 0:  # only through with_radius(0): radius zero, no move
            return x
        y = self.labels(model, x, y)
        eps = tf.constant(self.eps, x.dtype)
        x_adv = x
        if self.random_start and self.eps > 0:
            x_adv = tf.clip_by_value(x + tf.random.stateless_uniform(tf.shape(x), seed, -eps, eps), 0.0, 1.0)
        for t in tf.range(self.steps):
            _, grad, _ = self.objective_and_gradient(model, x_adv, y)
            rate = self.step_size / tf.sqrt(tf.cast(t, x.dtype) + 1.0)
            x_adv = tf.clip_by_value(x_adv + rate * (self.gamma * grad - (x_adv - x)), 0.0, 1.0)
        if self.eps > 0:
            x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - eps, x + eps), 0.0, 1.0)
        return x_adv

    def lagrangian(self, model, x_adv, x, y):
        """Per example, the objective WRM raises: ``gamma * loss(x_adv) - 0.5 ||x_adv - x||_2^2``."""
        x_adv = tf.convert_to_tensor(x_adv, tf.float32)
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.convert_to_tensor(y, tf.int64)
        delta = tf.reshape(x_adv - x, [tf.shape(x)[0], -1])
        loss = self.objective(model(x_adv, training=False), y)
        return self.gamma * loss - 0.5 * tf.reduce_sum(tf.square(delta), axis=1)
