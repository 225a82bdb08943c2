"""Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that halves itself.

``apgd`` raises the cross-entropy (``loss=ce``) or the DLR loss (``loss=dlr``); ``apgd_t`` raises
the targeted DLR loss towards each of the ``target_classes`` classes with the largest clean logits
after the prediction, one pass per target. Both follow fra31/auto-attack (``autopgd_base.py``):

- start at a random point on the ball's surface (L-inf: ``eps * t / max|t|`` with ``t`` uniform in
  [-1, 1]; L2: ``eps * t / |t|_2`` with ``t`` normal), clipped to [0, 1]; step size ``2 * eps``;
- each step: ``z = P(x_k + eta * sign(g))`` (L-inf; L2: ``g / |g|_2``), then the momentum step
  ``x_{k+1} = P(x_k + 0.75 (z - x_k) + 0.25 (x_k - x_{k-1}))`` (no momentum at the first step);
- at the checkpoints (:func:`checkpoints`: after 22% of the steps, then windows shrinking by 3% of
  the steps down to 6%), the step size of an example halves, and it restarts from its best point
  with its best gradient, when the loss rose in at most ``rho`` (0.75) of the window's steps, or
  when the step size was not halved at the last checkpoint and the best loss has not improved
  since;
- ``restarts`` runs, each only on the examples not yet misclassified; ``eot_iter`` > 1 averages
  the gradient over that many passes (for models that are random at inference).

Per example the output is the last misclassified iterate found (the reference's ``x_best_adv``),
or, where none was found, the iterate of highest loss over all restarts; the reference returns the
clean input there, which has the same accuracy and a lower loss. ``perturb_counted`` counts every
forward and backward pass of a single example.
"""
from __future__ import annotations

import dataclasses
from typing import List

import tensorflow as tf

from tfrobust.attacks.base import NO_PASSES, CountingAttack, count, per_example_loss, per_example_norm
from tfrobust.attacks.losses import dlr_loss, ranked_class, targeted_dlr_loss
from tfrobust.attacks.rows import batch_mask, on_rows
from tfrobust.errors import ConfigError

NORMS = ("linf", "l2")
LOSSES = ("ce", "dlr")
MOMENTUM = 0.75


def checkpoints(steps: int) -> List[int]:
    """The 0-based iterations after which APGD checks its step size, for ``steps`` iterations.

    The first window is ``max(int(0.22 * steps), 1)`` iterations long; each next one is
    ``max(int(0.03 * steps), 1)`` shorter, down to ``max(int(0.06 * steps), 1)``. For 100 steps:
    [21, 40, 56, 69, 79, 86, 92, 98] (checks after iterations 22, 41, 57, ...).
    """
    window = max(int(0.22 * steps), 1)
    shrink, shortest = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    points, i = [], window - 1
    while i < steps:
        points.append(i)
        window = max(window - shrink, shortest)
        i += window
    return points


def _window_table(steps: int) -> tf.Tensor:
    """Per iteration: the length of the window that ends there, or 0 if no check follows it."""
    table, start = [0] * steps, 0
    for point in checkpoints(steps):
        table[point] = point - start + 1
        start = point + 1
    return tf.constant(table, tf.float32)


def should_halve(rises, window, rho, halved_last, best_last, best_now):
    """Per example, at a checkpoint: halve the step size? Yes when the loss rose in at most
    ``rho * window`` of the window's steps (``rises``; the first compares with a loss of 0, as
    the reference's wrapped index does), or when it was not halved at the last checkpoint
    (``halved_last``) and the best loss has not risen since (``best_last >= best_now``)."""
    return (rises <= window * rho) | (~halved_last & (best_last >= best_now))


def _normalize(v, norm):
    if norm == "linf":
        scale = tf.reduce_max(tf.abs(tf.reshape(v, [tf.shape(v)[0], -1])), axis=1)
        return v / (batch_mask(scale, v) + 1e-12)
    return v / (per_example_norm(v) + 1e-12)


def _projector(x0, eps, norm):
    """The reference's projection onto the ball of radius ``eps`` around ``x0``, then onto [0, 1]:
    a function of the point. Under L-inf, one clip to the intersection of the ball and the box
    (the same numbers as clipping to each in turn)."""
    if norm == "linf":
        low, high = tf.maximum(x0 - eps, 0.0), tf.minimum(x0 + eps, 1.0)
        return lambda x: tf.clip_by_value(x, low, high)

    def project(x):
        delta = x - x0
        return tf.clip_by_value(x0 + _normalize(delta, "l2") * tf.minimum(eps, per_example_norm(delta)), 0.0, 1.0)

    return project


@dataclasses.dataclass(frozen=True)
class APGD(CountingAttack):
    name = "apgd"

    eps: float = 0.3
    norm: str = "linf"
    loss: str = "ce"
    steps: int = 100
    restarts: int = 1
    rho: float = 0.75
    eot_iter: int = 1

    def validate(self):
        super().validate()
        self._check_number("eps", strict=True)
        self._check_norm(NORMS)
        self._check_loss()
        self._check_count("steps")
        self._check_count("restarts")
        self._check(isinstance(self.rho, (int, float)) and not isinstance(self.rho, bool)
                    and 0 < self.rho <= 1, "rho", "a number in (0, 1]")
        self._check_count("eot_iter")
        if self.targeted:
            raise ConfigError(f"attack {self.name!r}: targeted=true is not supported; apgd_t picks "
                              "its target classes from the logits")

    def _check_loss(self):
        self._check(isinstance(self.loss, str) and self.loss in LOSSES, "loss", f"one of {', '.join(LOSSES)}")

    def check_classes(self, num_classes):
        if self.loss == "dlr" and num_classes < 3:
            raise ConfigError(f"attack {self.name!r}: loss=dlr needs 3 classes or more; the data has "
                              f"{num_classes}")

    @property
    def radius(self):
        return self.eps

    def _loss(self, logits, y, target):
        if self.loss == "ce":
            return per_example_loss(logits, y)
        return dlr_loss(logits, y)

    def perturb_counted(self, model, x, y, seed):
        y = self.labels(model, x, y)
        out = _Restarts.start(self, model, x, y)
        for restart in tf.range(self.restarts):
            out = out.attack(self, model, x, y, None, tf.random.experimental.stateless_fold_in(seed, restart))
        return out.result()

    # ---- one run on the examples given ----------------------------------------------------
    def single_run(self, model, x, y, target, seed):
        """``(x_adv, fooled, x_best, loss_best, passes)`` of one run from a random start."""
        eps = tf.constant(self.eps, x.dtype)
        x_adv = self.start(x, eps, seed)
        loss, grad, logits = self._loss_and_gradient(model, x_adv, y, target)
        passes = count(x, self.eot_iter, self.eot_iter)
        fooled = self._misclassified(logits, y)
        n = tf.shape(x)[0]
        state = dict(
            x_adv=x_adv, x_old=x_adv, grad=grad, step=tf.fill(tf.shape(batch_mask(fooled, x)), 2.0 * eps),
            x_best=x_adv, grad_best=grad, loss_best=loss, x_fooled=x_adv, fooled=fooled,
            prev_loss=tf.zeros([n]), rises=tf.zeros([n]), best_at_check=loss,
            halved_at_check=tf.ones([n], tf.bool), passes=passes,
        )
        windows = _window_table(self.steps)
        project = _projector(x, eps, self.norm)
        for i in tf.range(self.steps):
            state = self._step(model, x, y, target, project, i, windows[i], state)
        return state["x_fooled"], state["fooled"], state["x_best"], state["loss_best"], state["passes"]

    def start(self, x, eps, seed):
        """The random start on the ball's surface, clipped to [0, 1]."""
        if self.norm == "linf":
            t = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)
        else:
            t = tf.random.stateless_normal(tf.shape(x), seed)
        return tf.clip_by_value(x + eps * _normalize(t, self.norm), 0.0, 1.0)

    def _step(self, model, x, y, target, project, i, window, s):
        s = dict(s)
        a = tf.where(i > 0, MOMENTUM, 1.0)
        momentum = s["x_adv"] - s["x_old"]
        x_old = s["x_adv"]
        z = project(x_old + s["step"] * self._direction(s["grad"]))
        x_adv = project(x_old + (z - x_old) * a + momentum * (1 - a))
        loss, grad, logits = self._loss_and_gradient(model, x_adv, y, target)
        s["passes"] += count(x, self.eot_iter, self.eot_iter)
        wrong = self._misclassified(logits, y)
        s["fooled"] |= wrong
        s["x_fooled"] = tf.where(batch_mask(wrong, x), x_adv, s["x_fooled"])
        s["rises"] += tf.cast(loss > s["prev_loss"], tf.float32)
        s["prev_loss"] = loss
        better = loss > s["loss_best"]
        s["x_best"] = tf.where(batch_mask(better, x), x_adv, s["x_best"])
        s["grad_best"] = tf.where(batch_mask(better, x), grad, s["grad_best"])
        s["loss_best"] = tf.where(better, loss, s["loss_best"])

        s["x_adv"], s["grad"], s["x_old"] = x_adv, grad, x_old
        # The step-size check, at the end of a window (``window`` > 0) only.
        keys = ("step", "x_adv", "grad", "halved_at_check", "best_at_check", "rises")
        checked = tf.cond(window > 0, lambda: self._check_step_size(s, window, x),
                          lambda: tuple(s[k] for k in keys))
        s.update(zip(keys, checked))
        return s

    def _check_step_size(self, s, window, x):
        halve = should_halve(s["rises"], window, self.rho, s["halved_at_check"], s["best_at_check"],
                             s["loss_best"])
        mask = batch_mask(halve, x)
        return (tf.where(mask, s["step"] / 2.0, s["step"]), tf.where(mask, s["x_best"], s["x_adv"]),
                tf.where(mask, s["grad_best"], s["grad"]), halve, s["loss_best"], tf.zeros_like(s["rises"]))

    def _direction(self, grad):
        return tf.sign(grad) if self.norm == "linf" else _normalize(grad, "l2")

    def _loss_and_gradient(self, model, x, y, target):
        """Per-example loss, its gradient (averaged over ``eot_iter`` passes) and the logits of
        the last pass."""
        loss, grad, logits = self._one_pass(model, x, y, target)
        for _ in tf.range(self.eot_iter - 1):
            loss, more, logits = self._one_pass(model, x, y, target)
            grad += more
        return loss, grad / float(self.eot_iter), logits

    def _one_pass(self, model, x, y, target):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=False)
            loss = self._loss(logits, y, target)
            total = tf.reduce_sum(loss)
        return loss, tape.gradient(total, x), logits

    @staticmethod
    def _misclassified(logits, y):
        return tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int64), tf.cast(y, tf.int64))


@dataclasses.dataclass(frozen=True)
class APGDTargeted(APGD):
    name = "apgd_t"

    loss: str = "dlr_targeted"
    target_classes: int = 9

    def _check_loss(self):
        self._check(self.loss == "dlr_targeted", "loss", "dlr_targeted (the only loss of apgd_t)")
        self._check_count("target_classes")

    def check_classes(self, num_classes):
        if num_classes < 4:
            raise ConfigError(f"attack {self.name!r}: the targeted DLR loss needs 4 classes or more; "
                              f"the data has {num_classes}")
        if self.target_classes > num_classes - 1:
            raise ConfigError(f"attack {self.name!r}: target_classes={self.target_classes} is more than "
                              f"the {num_classes - 1} other classes of a {num_classes}-class dataset")

    def _loss(self, logits, y, target):
        return targeted_dlr_loss(logits, y, target)

    def perturb_counted(self, model, x, y, seed):
        y = self.labels(model, x, y)
        out = _Restarts.start(self, model, x, y)
        for rank in tf.range(2, self.target_classes + 2):
            for restart in tf.range(self.restarts):
                run_seed = tf.random.experimental.stateless_fold_in(
                    tf.random.experimental.stateless_fold_in(seed, rank), restart)
                out = out.attack(self, model, x, y, rank, run_seed)
        return out.result()


class _Restarts(tf.experimental.ExtensionType):
    """What runs on the examples still classified correctly carry from one run to the next."""

    x_out: tf.Tensor
    robust: tf.Tensor
    loss_best: tf.Tensor
    passes: tf.Tensor

    @staticmethod
    def start(attack, model, x, y):
        robust = ~attack._misclassified(model(x, training=False), y)
        n = tf.shape(x)[0]
        return _Restarts(x, robust, tf.fill([n], -float("inf")),
                         tf.constant(NO_PASSES, tf.int64) + count(x, 1, 0))

    def attack(self, attack, model, x, y, rank, seed):
        """One run on the examples still robust (:func:`on_rows`: none, no run)."""
        def run(rows, context):
            x_out, robust, loss_old = rows
            xs, ys = context
            passes, target = tf.zeros([2], tf.int64), tf.zeros_like(ys)
            if rank is not None:  # the reference ranks the clean logits of the examples attacked
                target = ranked_class(model(xs, training=False), rank)
                passes += count(xs, 1, 0)
            x_adv, fooled, x_best, loss_best, run_passes = attack.single_run(model, xs, ys, target, seed)
            # Fooled examples take their adversarial point; the others their point of highest loss.
            higher = loss_best > loss_old
            keep = tf.where(batch_mask(fooled, xs), x_adv, tf.where(batch_mask(higher, xs), x_best, x_out))
            return (keep, ~fooled, tf.where(higher & ~fooled, loss_best, loss_old)), passes + run_passes

        state, passes = on_rows(self.robust, run, (self.x_out, self.robust, self.loss_best), (x, y), self.passes)
        return _Restarts(*state, passes)

    def result(self):
        return self.x_out, self.passes
