"""DeepFool (Moosavi-Dezfooli et al. 2016, "DeepFool: a simple and accurate method to fool deep
neural networks"; reference: LTS4/DeepFool), under L2 or L-infinity.

A minimum-norm attack. The candidate classes of an example are the ``candidates - 1`` classes with
the largest clean logits after its label ``y`` (``candidates`` = 10, capped at the number of
classes, counts ``y`` as the reference's ``I[0]`` does). Each iteration, at the current point
``x_i``, it linearises ``f_k = z_k - z_y`` for every candidate ``k`` (the gradients ``w_k`` come
from one Jacobian, ``candidates - 1`` backward passes per example), takes the candidate whose
linearised boundary is closest, ``|f_k| / ||w_k||_q`` (``q`` the dual norm: 2 for L2, 1 for
L-infinity), and adds to ``r_total`` the step onto that boundary,

    r = (|f_k| + 1e-4) / ||w_k||_q^q * |w_k|^(q - 1) * sign(w_k)
      = (|f_k| + 1e-4) / ||w_k||_2^2 * w_k          (L2)
      = (|f_k| + 1e-4) / ||w_k||_1 * sign(w_k)      (L-infinity).

The next point is ``x_{i+1} = clip(x + (1 + overshoot) * r_total, 0, 1)``; an example stops once
it is misclassified there (one forward pass per iteration), after ``steps`` (50) iterations at most.
Misclassified examples get their last point; examples never fooled, and examples misclassified from
the start, get ``x`` back. ``eps`` (default None: unbounded): where set, a result farther than
``eps`` in ``norm`` counts as a failure and gets ``x`` back; ``radius`` is ``eps``.

Deviations from the reference: the step adds 1e-4 to ``|f_k|`` (the paper's general Lp step; the
reference adds 1e-4 to the distance); points are clipped to [0, 1] (the reference has no box); the
examples run as a batch, each stopping on its own, and only the examples still running are passed
through the model. ``candidates`` above the number of classes is capped, not refused. DeepFool
picks its own target classes, so ``targeted`` must stay false.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import tensorflow as tf

from tfrobust.attacks.base import NO_PASSES, COUNT_MAX, CountingAttack, count, distance, is_integer
from tfrobust.attacks.rows import batch_mask, on_rows
from tfrobust.errors import ConfigError

NORMS = ("l2", "linf")
_TINY = 1e-12


@dataclasses.dataclass(frozen=True)
class DeepFool(CountingAttack):
    name = "deepfool"

    norm: str = "l2"
    steps: int = 50
    overshoot: float = 0.02
    candidates: int = 10
    eps: Optional[float] = None

    def validate(self):
        super().validate()
        self._check_norm(NORMS)
        self._check_count("steps")
        self._check_number("overshoot")
        self._check(is_integer(self.candidates, 2, COUNT_MAX), "candidates",
                    "an integer >= 2 (the label and at least one other class)")
        if self.eps is not None:
            self._check_number("eps", strict=True)
        if self.targeted:
            raise ConfigError(f"attack {self.name!r}: targeted=true is not supported; DeepFool picks "
                              "its target classes from the logits")

    def check_classes(self, num_classes):
        if num_classes < 2:
            raise ConfigError(f"attack {self.name!r}: needs 2 classes or more; the data has {num_classes}")

    @property
    def radius(self):
        return self.eps

    def perturb_counted(self, model, x, y, seed):
        extra = y is None or self.predicted_labels  # labels() runs the model once more
        y = self.labels(model, x, y)
        logits = model(x, training=False)
        passes = tf.constant(NO_PASSES, tf.int64) + count(x, 2 if extra else 1, 0)
        k = min(self.candidates, logits.shape[-1]) - 1  # classes other than y to linearise
        correct = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int64), y)
        (x_adv,), passes = on_rows(correct, functools.partial(self._search, model, k), (x,), (y, logits), passes)
        return x_adv, passes

    def _search(self, model, k, rows, context):
        """Steps onto the closest linearised boundary of examples classified correctly, each until
        it is misclassified: ``((x_adv,), passes)``."""
        (xs,), (ys, zs) = rows, context
        is_label = tf.one_hot(tf.cast(ys, tf.int32), tf.shape(zs)[1]) > 0
        others = tf.math.top_k(tf.where(is_label, -float("inf"), zs), k=k).indices  # [n, k]
        n = tf.shape(xs)[0]
        state = (xs, tf.zeros_like(xs), tf.zeros([n], tf.bool))  # per example: x_adv, r_total, fooled
        passes = tf.constant(NO_PASSES, tf.int64)
        for _ in tf.range(self.steps):
            if tf.reduce_all(state[2]):
                break
            state, passes = on_rows(~state[2], functools.partial(self._advance, model, k), state, (xs, ys, others),
                                    passes)
        x_adv, _, fooled = state
        if self.eps is not None:
            fooled &= distance(x_adv, xs, self.norm) <= self.eps
        return (tf.where(batch_mask(fooled, xs), x_adv, xs),), passes

    def _advance(self, model, k, rows, context):
        """One step of the examples not yet fooled."""
        x_adv, r_total, _ = rows
        x0, y, others = context
        r_total = r_total + self._step(model, x_adv, y, others)
        x_adv = tf.clip_by_value(x0 + (1.0 + self.overshoot) * r_total, 0.0, 1.0)
        wrong = tf.not_equal(tf.argmax(model(x_adv, training=False), axis=-1, output_type=tf.int64), y)
        return (x_adv, r_total, wrong), count(x_adv, 2, k)

    def _step(self, model, x, y, others):
        """The step onto the closest linearised boundary of ``x`` (not yet fooled)."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            z = model(x, training=False)
            f = tf.gather(z, others, batch_dims=1) - tf.gather(z, tf.cast(y, tf.int32), batch_dims=1)[:, None]
        jac = tape.batch_jacobian(f, x)  # [n, k, *x.shape[1:]]
        w = tf.reshape(jac, [tf.shape(x)[0], tf.shape(others)[1], -1])
        if self.norm == "l2":
            dual = tf.sqrt(tf.reduce_sum(tf.square(w), axis=2))
        else:
            dual = tf.reduce_sum(tf.abs(w), axis=2)
        closest = tf.argmin(tf.abs(f) / tf.maximum(dual, _TINY), axis=1, output_type=tf.int32)
        f_k = tf.abs(tf.gather(f, closest, batch_dims=1)) + 1e-4
        w_k = tf.gather(w, closest, batch_dims=1)
        dual_k = tf.gather(dual, closest, batch_dims=1)
        if self.norm == "l2":
            r = (f_k / tf.maximum(tf.square(dual_k), _TINY))[:, None] * w_k
        else:
            r = (f_k / tf.maximum(dual_k, _TINY))[:, None] * tf.sign(w_k)
        return tf.reshape(r, tf.shape(x))
