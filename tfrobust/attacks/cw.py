"""The Carlini & Wagner L2 attack (Carlini & Wagner 2017, "Towards evaluating the robustness of
neural networks"; reference: carlini/nn_robust_attacks ``l2_attack.py``).

A minimum-norm attack. Per example it minimises over ``w``

    ||x' - x||_2^2 + c * max(z_y - max_{i != y} z_i + confidence, 0),   x' = (tanh(w) + 1) / 2

(the change of variables keeps ``x'`` in [0, 1]; ``w`` starts at ``arctanh((2 x - 1)(1 - 1e-6))``,
``x`` clipped to [0, 1] first so that inputs at exactly 0 or 1 stay finite). ``targeted=True``:
``y`` holds target classes and the margin's sign flips, ``max(max_{i != t} z_i - z_t + confidence,
0)``. This is the reference's loss; it equals ``max(margin, -confidence)`` plus a constant.

- ``binary_steps`` (9) searches of ``c`` per example, from ``initial_const`` (0.001): after a
  search step that found an adversarial point the upper bound becomes ``min(upper, c)``, else the
  lower bound ``max(lower, c)``; then ``c`` is the middle of the bounds once an upper bound exists,
  else ``c * 10``. As in the reference, with ``binary_steps >= 10`` the last step uses the upper
  bound (1e10 where none was found).
- each search step restarts Adam (``learning_rate`` 0.01, betas 0.9 / 0.999, eps 1e-8, written
  here in TensorFlow) from ``w0`` and takes up to ``steps`` (100) iterations, each one forward and
  one backward pass at the current ``w`` before its update. Every ``max(steps // 10, 1)``
  iterations an example whose loss is above 0.9999 times its loss at the previous check stops
  (the reference's early abort); the loop ends once every example has stopped.
- every evaluated point that is adversarial (margin below ``-confidence``) and closer than the
  best so far is kept: the output is, per example, the smallest-L2 adversarial point found over all
  search steps, or ``x`` where none was found.

``eps`` (default None: unbounded): where set, a result farther than ``eps`` in L2 counts as a
failure and the example gets ``x`` back; ``radius`` is ``eps``.

Deviations from the reference: the early abort is per example (the reference compares the loss of
the whole batch, so an example's result there depends on its batch), and its first check never
stops (the reference compares with 1e6, which stops at once any search step whose loss starts above
it, as with a large ``c``); Adam takes the textbook bias-corrected step (TF1's AdamOptimizer, which
the reference used, puts ``eps`` inside the correction); the distance is measured to ``x`` itself
rather than to its tanh reconstruction; examples already adversarial (with the confidence) are
returned unchanged and not attacked, and stopped examples are left out of the batch, so ``passes``
counts only what runs. A point found on the decision boundary may be
classified back when the model runs it in another batch (float round-off); ``confidence`` > 0
avoids that. Pixels at exactly 0 or 1 start at ``w = +-7.25``, where 100 Adam steps of 0.01 barely
move them: on images with many such pixels the L2 found can exceed DeepFool's.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional

import tensorflow as tf

from tfrobust.attacks.base import NO_PASSES, CountingAttack, count
from tfrobust.attacks.losses import margin
from tfrobust.attacks.rows import batch_mask, on_rows

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
UPPER = 1e10  # the reference's initial upper bound of c: "no adversarial point found yet"
TANH_SCALE = 1.0 - 1e-6


@dataclasses.dataclass(frozen=True)
class CarliniWagnerL2(CountingAttack):
    name = "cw_l2"
    norm = "l2"

    confidence: float = 0.0
    initial_const: float = 0.001
    binary_steps: int = 9
    steps: int = 100
    learning_rate: float = 0.01
    eps: Optional[float] = None

    def validate(self):
        super().validate()
        self._check_number("confidence")
        self._check_number("initial_const", strict=True)
        self._check_count("binary_steps")
        self._check_count("steps")
        self._check_number("learning_rate", strict=True)
        if self.eps is not None:
            self._check_number("eps", strict=True)
        for name in ("confidence", "initial_const", "learning_rate", "eps"):  # each becomes a float32 constant
            value = getattr(self, name)  # (beyond its range: inf, and the search finds nothing, silently)
            if value is not None:
                self._check(value <= tf.float32.max, name, f"finite in float32 (at most {tf.float32.max:.4g})")

    @property
    def radius(self):
        return self.eps

    def _signed_margin(self, logits, y):
        """Positive while the attack has not reached its goal; adversarial below -confidence."""
        m = margin(logits, y)
        return -m if self.targeted else m

    def perturb_counted(self, model, x, y, seed):
        extra = y is None or self.predicted_labels  # labels() runs the model once more
        y = self.labels(model, x, y)
        passes = tf.constant(NO_PASSES, tf.int64) + count(x, 2 if extra else 1, 0)
        done = self._signed_margin(model(x, training=False), y) < -self.confidence

        def search(rows, context):
            (xs,), (ys,) = rows, context
            best_x, found, more = self._search(model, tf.clip_by_value(xs, 0.0, 1.0), ys)
            return (tf.where(batch_mask(found, xs), best_x, xs),), more

        (x_adv,), passes = on_rows(~done, search, (x,), (y,), passes)
        return x_adv, passes

    def _search(self, model, x, y):
        """The binary search over c on examples ``x`` (all not yet adversarial)."""
        n = tf.shape(x)[0]
        w0 = tf.atanh((2.0 * x - 1.0) * TANH_SCALE)
        lower = tf.zeros([n])
        upper = tf.fill([n], UPPER)
        const = tf.fill([n], float(self.initial_const))
        best = (tf.fill([n], float("inf")), x)  # (squared L2, point) of the closest adversarial
        passes = tf.constant(NO_PASSES, tf.int64)
        for step in tf.range(self.binary_steps):
            if self.binary_steps >= 10:  # the reference's "repeat": the last step tries the upper bound
                const = tf.where(step == self.binary_steps - 1, upper, const)
            found, best, passes = self._minimise(model, x, y, w0, const, best, passes)
            upper = tf.where(found, tf.minimum(upper, const), upper)
            lower = tf.where(found, lower, tf.maximum(lower, const))
            const = tf.where(upper < 1e9, (lower + upper) / 2.0, const * 10.0)
        best_l2, best_x = best
        found = best_l2 < float("inf")
        if self.eps is not None:
            found &= tf.sqrt(best_l2) <= self.eps
        return best_x, found, passes

    def _minimise(self, model, x, y, w0, const, best, passes):
        """One search step: Adam from ``w0`` with constants ``const``, keeping ``best``."""
        n = tf.shape(x)[0]
        best_l2, best_x = best
        # Per example: w, Adam's m and v, the best (l2, x), found, stalled, the loss at the last check
        # (the reference starts at 1e6, which stops any loss above it; here infinity).
        state = (w0, tf.zeros_like(w0), tf.zeros_like(w0), best_l2, best_x, tf.zeros([n], tf.bool),
                 tf.zeros([n], tf.bool), tf.fill([n], float("inf")))
        period = max(self.steps // 10, 1)
        for i in tf.range(self.steps):
            if tf.reduce_all(state[6]):
                break
            state, passes = on_rows(~state[6], functools.partial(self._adam_step, model, i, period), state,
                                    (x, y, const), passes)
        _, _, _, best_l2, best_x, found, _, _ = state
        return found, (best_l2, best_x), passes

    def _adam_step(self, model, i, period, rows, context):
        """Step ``i`` of Adam on the examples still running (``rows`` of the search's state)."""
        w, m, v, best_l2, best_x, found, _, prev = rows
        x, y, const = context
        with tf.GradientTape() as tape:
            tape.watch(w)
            x_adv = (tf.tanh(w) + 1.0) / 2.0
            signed = self._signed_margin(model(x_adv, training=False), y)
            l2 = tf.reduce_sum(tf.reshape(tf.square(x_adv - x), [tf.shape(x)[0], -1]), axis=1)
            loss = l2 + const * tf.maximum(signed + self.confidence, 0.0)
            total = tf.reduce_sum(loss)
        grad = tape.gradient(total, w)

        # Keep the closest adversarial point (the reference records before its update).
        adversarial = signed < -self.confidence
        closer = adversarial & (l2 < best_l2)
        best_l2 = tf.where(closer, l2, best_l2)
        best_x = tf.where(batch_mask(closer, x), x_adv, best_x)

        t = tf.cast(i + 1, tf.float32)
        m = BETA1 * m + (1.0 - BETA1) * grad
        v = BETA2 * v + (1.0 - BETA2) * tf.square(grad)
        m_hat, v_hat = m / (1.0 - BETA1 ** t), v / (1.0 - BETA2 ** t)
        w = w - self.learning_rate * m_hat / (tf.sqrt(v_hat) + ADAM_EPS)

        # The early abort: no decrease by 0.01% since the last check.
        check = tf.equal(i % period, 0)
        stalled = check & (loss > prev * 0.9999)
        return (w, m, v, best_l2, best_x, adversarial | found, stalled, tf.where(check, loss, prev)), count(x, 1, 1)
