"""Training objectives: what a batch costs. One small registered class per method.

An objective is a frozen dataclass of its settings, named on the command line by a spec
(``--objective=trades:beta=6``). The build step gives it the training attack (``--attack``, with
the attack's training defaults), the label smoothing and the number of classes. The training step
calls, on each replica and inside one compiled graph::

    objective.before_update(model, x, y, seed)     # may change the weights (AWP's ascent)
    loss, metrics = objective.loss(model, x, y, seed)   # under the gradient tape
    ... the loop adds the regularisers, takes gradients and applies them ...
    objective.after_update(model, x, y, seed)      # may change the weights (ATMC's projection)

``loss`` is the mean over the replica's batch; ``metrics`` maps names to scalars the loop logs
(TensorBoard ``train/<name>``). ``seed`` is a [2] int64 tensor that depends on the run's seed, the
iteration and the replica, so a resumed run draws the same random starts. Attacks run with the
model in inference mode and their output is a constant for the update (:meth:`adversarial`).

Adding a method is a class here (or anywhere, registered in :data:`OBJECTIVES`)::

    @OBJECTIVES.register("trades")
    @dataclasses.dataclass(frozen=True)
    class Trades(Objective):
        beta: float = 6.0
        def loss(self, model, x, y, seed): ...
"""
from __future__ import annotations

import abc
import dataclasses
import math
from typing import Dict, Optional, Tuple

import tensorflow as tf

from tfrobust.attacks import Attack
from tfrobust.attacks.pgd import PGD, ascent_direction, project
from tfrobust.errors import ConfigError
from tfrobust.registry import Registry

OBJECTIVES: Registry = Registry("training objective")


@dataclasses.dataclass(frozen=True)
class Objective(abc.ABC):
    """Base of all objectives: cross-entropy with label smoothing, and the attacked batch."""

    attack: Optional[Attack] = None
    label_smoothing: float = 0.0
    num_classes: int = 10

    uses_attack = False  # whether the objective trains against --attack

    def __post_init__(self):
        if self.uses_attack and self.attack is None:
            raise ConfigError(f"objective {type(self).__name__!r} needs a training attack")

    @abc.abstractmethod
    def loss(self, model, x, y, seed) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
        """The replica batch's mean loss and the named terms to log."""

    def before_update(self, model, x, y, seed) -> None:
        """Runs before the loss and the gradient step (in the compiled step)."""
        del model, x, y, seed

    def after_update(self, model, x, y, seed) -> None:
        """Runs after the optimizer applied the gradients (in the compiled step)."""
        del model, x, y, seed

    # ---- pieces objectives share ---------------------------------------------------------
    def cross_entropy(self, logits, y) -> tf.Tensor:
        """Mean softmax cross-entropy of ``logits`` against ``y`` smoothed by ``label_smoothing``."""
        return tf.reduce_mean(smoothed_loss(logits, y, self.num_classes, self.label_smoothing))

    def adversarial(self, model, x, y, seed) -> tf.Tensor:
        """The training attack's output on ``(x, y)``, a constant for the update."""
        return tf.stop_gradient(self.attack.perturb(model, x, y, seed))


@OBJECTIVES.register("natural")
@dataclasses.dataclass(frozen=True)
class Natural(Objective):
    """Cross-entropy on the clean batch."""

    def loss(self, model, x, y, seed):
        loss = self.cross_entropy(model(x, training=True), y)
        return loss, {"clean_loss": loss}


@OBJECTIVES.register("mix")
@dataclasses.dataclass(frozen=True)
class Mix(Objective):
    """``(1 - adv_weight)`` clean plus ``adv_weight`` adversarial cross-entropy (Goodfellow et al.;
    the lottery document's 50/50). A weight of 0 or 1 skips the other forward pass."""

    adv_weight: float = 0.5
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        if not (0.0 <= self.adv_weight <= 1.0):
            raise ConfigError(f"objective 'mix': adv_weight={self.adv_weight!r} is not allowed; "
                              "it must be in [0, 1]")

    def loss(self, model, x, y, seed):
        metrics, loss = {}, 0.0
        if self.adv_weight < 1.0:
            metrics["clean_loss"] = self.cross_entropy(model(x, training=True), y)
            loss += (1.0 - self.adv_weight) * metrics["clean_loss"]
        if self.adv_weight > 0.0:
            x_adv = self.adversarial(model, x, y, seed)
            metrics["adv_loss"] = self.cross_entropy(model(x_adv, training=True), y)
            loss += self.adv_weight * metrics["adv_loss"]
        return loss, metrics


@OBJECTIVES.register("madry")
@dataclasses.dataclass(frozen=True)
class Madry(Objective):
    """Cross-entropy on the attacked batch only (Madry et al.)."""

    uses_attack = True

    def loss(self, model, x, y, seed):
        loss = self.cross_entropy(model(self.adversarial(model, x, y, seed), training=True), y)
        return loss, {"adv_loss": loss}


@OBJECTIVES.register("trades")
@dataclasses.dataclass(frozen=True)
class Trades(Objective):
    """TRADES (Zhang et al., 2019): clean cross-entropy plus ``beta`` times the KL divergence from
    the clean to the adversarial output distribution. The adversarial input maximises that KL
    (not the cross-entropy) by ``--attack``'s PGD settings (eps, step_size, steps, norm), from the
    clean input plus N(0, 0.001²) noise, as the reference implementation does. The attack's
    other settings (random_start, restarts, keep_best, predicted_labels) do not apply: the ascent
    needs no labels and keeps its last iterate."""

    beta: float = 6.0
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.attack, PGD):
            raise ConfigError(f"objective 'trades' takes its ascent's eps, step_size and steps from a pgd "
                              f"--attack; got {self.attack.name!r}")
        if not (self.beta >= 0 and math.isfinite(self.beta)):
            raise ConfigError(f"objective 'trades': beta={self.beta!r} is not allowed; it must be a finite "
                              "number >= 0")

    def loss(self, model, x, y, seed):
        p_clean = tf.stop_gradient(tf.nn.softmax(model(x, training=False)))
        x_adv = tf.stop_gradient(self.kl_ascent(model, x, p_clean, seed))
        logits = model(x, training=True)
        clean = self.cross_entropy(logits, y)
        kl = tf.reduce_mean(kl_divergence(tf.nn.softmax(logits), model(x_adv, training=True)))
        return clean + self.beta * kl, {"clean_loss": clean, "kl": kl}

    def kl_ascent(self, model, x, p_clean, seed):
        a = self.attack
        eps = tf.constant(a.eps, x.dtype)
        x_adv = x + 0.001 * tf.random.stateless_normal(tf.shape(x), seed, dtype=x.dtype)
        for _ in tf.range(a.steps):
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                kl = tf.reduce_sum(kl_divergence(p_clean, model(x_adv, training=False)))
            x_adv = project(x, x_adv + a.step_size * ascent_direction(tape.gradient(kl, x_adv), a.norm),
                            eps, a.norm)
        return x_adv


def kl_divergence(p, logits_q) -> tf.Tensor:
    """Per example KL(p || softmax(logits_q)), with 0 log 0 = 0."""
    log_q = tf.nn.log_softmax(logits_q)
    log_p = tf.math.log(tf.maximum(p, 1e-12))
    return tf.reduce_sum(tf.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)


def smoothed_loss(logits, y, num_classes: int, label_smoothing: float):
    """Per-example softmax cross-entropy against labels smoothed by ``label_smoothing``."""
    if label_smoothing == 0.0:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits)
    target = tf.one_hot(tf.cast(y, tf.int32), num_classes)
    target = target * (1.0 - label_smoothing) + label_smoothing / num_classes
    return tf.nn.softmax_cross_entropy_with_logits(target, logits)
