"""Projected gradient descent (Madry et al.) under L-infinity or L2, with restarts.

Each restart starts at a uniform random point of the epsilon-ball (or at the input, with
``random_start=False``) and takes ``steps`` steps of size ``step_size``: the gradient's sign under
L-infinity, the gradient scaled to unit L2 norm under L2. After each step the point is projected
onto the ball and clipped to [0, 1]. With ``keep_best`` (the default) every iterate of every
restart is a candidate and the worst one for the model is returned per example, starting from the
clean input; so more iterations, more restarts, never raise accuracy. Without it, the last iterate
of the worst restart is returned (Madry's training-time PGD, and what ``from_spec(...,
training=True)`` gives unless the spec sets ``keep_best``).

With ``keep_best`` (untargeted, on the true labels) PGD is compactable
(:mod:`tfrobust.attacks.base`): given [batch, 2] per-example seeds, restart ``r`` of an example
starts from a draw seeded by its own seed folded with ``r``, and ``perturb_round(..., r)`` is that
restart alone (from the clean input as the first candidate), each example's iterations stopping at
its first adversarial point.
"""
from __future__ import annotations

import dataclasses
import functools

import tensorflow as tf

from tfrobust.attacks import example_random
from tfrobust.attacks.base import GradientAttack, fold_in, per_example_norm
from tfrobust.attacks.rows import on_rows

NORMS = ("linf", "l2")


def project(x0, x, eps, norm):
    """Projects ``x`` onto the ``norm`` ball of radius ``eps`` around ``x0``, then onto [0, 1]."""
    if norm == "linf":
        x = tf.clip_by_value(x, x0 - eps, x0 + eps)
    else:
        delta = x - x0
        scale = tf.minimum(1.0, eps / tf.maximum(per_example_norm(delta), 1e-12))
        x = x0 + delta * scale
    return tf.clip_by_value(x, 0.0, 1.0)


def random_point(x0, eps, norm, seed):
    """A uniform draw from the ``norm`` ball of radius ``eps`` around ``x0``; a [batch, 2] ``seed``
    draws each example from its own seed (:mod:`tfrobust.attacks.example_random`)."""
    if seed.shape.rank == 2:
        tail = x0.shape[1:]
        if norm == "linf":
            return x0 + example_random.uniform(seed, tail, -eps, eps, dtype=x0.dtype)
        direction = example_random.normal(seed, tail, dtype=x0.dtype)
        u = example_random.uniform(seed, [1] * len(tail), salt=3, dtype=x0.dtype)  # normal took 1, 2
        dim = float(tail.num_elements())
        return x0 + direction / tf.maximum(per_example_norm(direction), 1e-12) * eps * tf.pow(u, 1.0 / dim)
    if norm == "linf":
        return x0 + tf.random.stateless_uniform(tf.shape(x0), seed, -eps, eps)
    direction = tf.random.stateless_normal(tf.shape(x0), seed)
    direction /= tf.maximum(per_example_norm(direction), 1e-12)
    dim = tf.cast(tf.reduce_prod(tf.shape(x0)[1:]), tf.float32)
    u = tf.random.stateless_uniform(
        [tf.shape(x0)[0]] + [1] * (x0.shape.rank - 1), tf.random.experimental.stateless_fold_in(seed, 1)
    )
    return x0 + direction * eps * tf.pow(u, 1.0 / dim)


def ascent_direction(grad, norm):
    if norm == "linf":
        return tf.sign(grad)
    return grad / tf.maximum(per_example_norm(grad), 1e-12)


@dataclasses.dataclass(frozen=True)
class PGD(GradientAttack):
    name = "pgd"
    training_defaults = {"keep_best": False}  # adversarial training uses Madry's last iterate

    eps: float = 0.3
    step_size: float = 0.01
    steps: int = 40
    norm: str = "linf"
    random_start: bool = True
    restarts: int = 1
    keep_best: bool = True

    def validate(self):
        super().validate()
        self._check_number("eps")
        self._check_number("step_size", strict=True)
        self._check_count("steps")
        self._check_norm(NORMS)
        self._check_bool("random_start")
        self._check_count("restarts")
        self._check_bool("keep_best")

    @property
    def radius(self):
        return self.eps

    def with_radius(self, eps):
        """PGD at radius ``eps`` with its step size scaled alike (the same number of steps crosses
        the same share of the ball)."""
        moved = super().with_radius(eps)
        if eps > 0 and self.eps > 0:
            moved = dataclasses.replace(moved, step_size=self.step_size * eps / self.eps)
        return moved

    @property
    def compactable(self):
        # Targeted, "robust" would mean "not yet at the target"; with predicted labels, an input
        # already misclassified is attacked away from its wrong class and may land on the true one.
        return self.keep_best and not self.targeted and not self.predicted_labels

    def rounds(self):
        return self.restarts

    def perturb(self, model, x, y, seed):
        y = self.labels(model, x, y)
        eps = tf.constant(self.eps, x.dtype)
        if not self.keep_best and self.restarts == 1:
            # Madry's PGD: the last iterate of one run, with no extra forward pass.
            return self._descend(model, x, y, eps, seed, None)[0]
        if self.keep_best:
            best = self._clean_candidate(model, x, y)
        else:  # the first restart's result always replaces the clean input
            n = tf.shape(x)[0]
            best = (x, tf.fill([n], tf.constant(-float("inf"), x.dtype)), tf.zeros([n], tf.bool))
        for restart in tf.range(self.restarts):
            best = self._restart(model, x, y, eps, seed, restart, best)
        return best[0]

    def perturb_round(self, model, x, y, seeds, r):
        """Restart ``r`` alone, each example stopping at its first adversarial iterate: the
        iterations after it could not change whether the example is robust, only its loss."""
        y = self.labels(model, x, y)
        eps = tf.constant(self.eps, x.dtype)
        best = self._clean_candidate(model, x, y)
        # Per example: the iterate, then the best (point, objective, succeeded) so far.
        state = (self._start(x, eps, fold_in(seeds, tf.cast(r, tf.int32))), *best)
        for _ in tf.range(self.steps):
            if tf.reduce_all(state[3]):
                break
            state = on_rows(~state[3], functools.partial(self._round_step, model, eps), state, (x, y))
        return on_rows(~state[3], functools.partial(self._round_end, model), state, (y,))[1]

    def _round_step(self, model, eps, rows, context):
        """A step of the examples not yet broken in a round, keeping the worse of each iterate."""
        x_adv, *best = rows
        x, y = context
        _, grad, logits = self.objective_and_gradient(model, x_adv, y)
        return (self._step(x, x_adv, grad, eps), *self.keep_worse(best, x_adv, logits, y))

    def _round_end(self, model, rows, context):
        """The last iterate of the examples not yet broken, as a candidate."""
        x_adv, *best = rows
        return (x_adv, *self.keep_worse(best, x_adv, model(x_adv, training=False), context[0]))

    def _start(self, x, eps, seed):
        """Where a run starts: a random point of the ball (projected), or the input."""
        return project(x, random_point(x, eps, self.norm, seed), eps, self.norm) if self.random_start else x

    def _clean_candidate(self, model, x, y):
        logits = model(x, training=False)
        return x, self.objective(logits, y), self.succeeded(logits, y)

    def _restart(self, model, x, y, eps, seed, restart, best):
        x_adv, best = self._descend(model, x, y, eps, fold_in(seed, restart), best)
        return self.keep_worse(best, x_adv, model(x_adv, training=False), y)

    def _descend(self, model, x, y, eps, seed, best):
        """One run of ``steps`` steps; ``best`` (if given and keep_best) tracks every iterate."""
        x_adv = self._start(x, eps, seed)
        if best is None or not self.keep_best:
            for _ in tf.range(self.steps):
                _, grad, _ = self.objective_and_gradient(model, x_adv, y)
                x_adv = self._step(x, x_adv, grad, eps)
            return x_adv, best
        for _ in tf.range(self.steps):
            _, grad, logits = self.objective_and_gradient(model, x_adv, y)
            best = self.keep_worse(best, x_adv, logits, y)
            x_adv = self._step(x, x_adv, grad, eps)
        return x_adv, best

    def _step(self, x, x_adv, grad, eps):
        return project(x, x_adv + self.step_size * ascent_direction(grad, self.norm), eps, self.norm)
