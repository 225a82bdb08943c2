"""Training objectives: what a batch costs. One small registered class per method.

An objective is a frozen dataclass of its settings, named on the command line by a spec
(``--objective=trades:beta=6``). The build step gives it the training attack (``--attack``, with
the attack's training defaults), the label smoothing and the number of classes. The training step
calls, on each replica and inside one compiled graph::

    objective.before_update(model, x, y, seed)     # may change the weights
    loss, metrics = objective.loss(model, x, y, seed)   # under the gradient tape
    ... the loop adds the regularisers, takes gradients and applies them ...
    objective.after_update(model, x, y, seed)      # may change the weights (ATMC's projection)

An objective may also move the weights inside ``loss`` and put them back exactly before it
returns (AWP, Entropy-SGD: :func:`tfrobust.training.weight_perturbation.weights_moved`); the
gradient then uses the values its forward pass read. ``check_model_options`` and ``check_input``
let the build step refuse a model or input shape the objective cannot train (the rotation head).

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

    def check_model_options(self, options: dict) -> None:
        """Raises ConfigError when the objective cannot train a model built with these ``--model``
        options (the build step calls it)."""
        del options

    def check_input(self, input_shape) -> None:
        """Raises ConfigError when the objective cannot train on inputs of ``input_shape`` (H, W, C)."""
        del input_shape

    def before_update(self, model, x, y, seed) -> None:
        """Runs before the loss and the gradient step (in the compiled step)."""
        del model, x, y, seed

    def after_update(self, model, x, y, seed) -> None:
        """Runs after the optimizer applied the gradients (in the compiled step)."""
        del model, x, y, seed

    # ---- pieces objectives share ---------------------------------------------------------
    def check_nonnegative(self, option: str, objective: str) -> None:
        """A one-line ConfigError unless setting ``option`` is a finite number >= 0."""
        value = getattr(self, option)
        if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value) and value >= 0):
            raise ConfigError(f"objective {objective!r}: {option}={value!r} is not allowed; it must be a finite "
                              "number >= 0")

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
    the lottery document's 50/50). A weight of 0 or 1 skips the other forward pass. Without batch
    norm the clean and adversarial batches go through the model as one batch (:func:`forward_pair`);
    with it, the clean pass comes before the attack, as it always did."""

    adv_weight: float = 0.5
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        if not (0.0 <= self.adv_weight <= 1.0):
            raise ConfigError(f"objective 'mix': adv_weight={self.adv_weight!r} is not allowed; "
                              "it must be in [0, 1]")

    def loss(self, model, x, y, seed):
        if 0.0 < self.adv_weight < 1.0 and not batch_dependent(model):  # one pass for both halves
            x_adv = self.adversarial(model, x, y, seed)
            clean, adv = (self.cross_entropy(logits, y) for logits in forward_pair(model, x, x_adv))
            return (1.0 - self.adv_weight) * clean + self.adv_weight * adv, {"clean_loss": clean, "adv_loss": adv}
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
        logits, logits_adv = forward_pair(model, x, x_adv)
        clean = self.cross_entropy(logits, y)
        kl = tf.reduce_mean(kl_divergence(tf.nn.softmax(logits), logits_adv))
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


@OBJECTIVES.register("mart")
@dataclasses.dataclass(frozen=True)
class Mart(Objective):
    """MART (Wang et al., 2020): a boosted cross-entropy on the adversarial example plus ``beta``
    times the KL divergence from the clean to the adversarial output, weighted per example by how
    unsure the clean output is of the true class::

        BCE(p_adv, y) = -log p_adv[y] - log(1.0001 - max_{k != y} p_adv[k] + 1e-12)
        loss = mean BCE + beta * mean_i KL(p_clean,i || p_adv,i) * (1.0000001 - p_clean,i[y_i])

    with the reference implementation's constants, its ``log(p_adv + 1e-12)`` inside the KL, and
    gradients through every term (both forward passes in training mode, and the clean
    probabilities, the weight included). The adversarial examples are the training attack's
    (``--attack``, as for ``madry``); the reference runs its own PGD on the cross-entropy from the
    clean input plus N(0, 0.001²) noise. ``label_smoothing`` applies to the cross-entropy part of
    the BCE only. Logs ``adv_loss`` (the adversarial cross-entropy), ``bce`` and ``kl`` (the
    weighted KL term)."""

    beta: float = 6.0
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        self.check_nonnegative("beta", "mart")

    def loss(self, model, x, y, seed):
        x_adv = self.adversarial(model, x, y, seed)
        logits, logits_adv = forward_pair(model, x, x_adv)  # the reference's order (batch-norm statistics)
        y = tf.cast(y, tf.int32)
        p_adv = tf.nn.softmax(logits_adv)
        true = tf.one_hot(y, tf.shape(p_adv)[-1], dtype=p_adv.dtype)
        other = tf.reduce_max(tf.where(true > 0, -1.0, p_adv), axis=-1)  # most likely wrong class
        ce = self.cross_entropy(logits_adv, y)
        bce = ce + tf.reduce_mean(-tf.math.log(1.0001 - other + 1e-12))
        p_clean = tf.nn.softmax(logits)
        kl = tf.reduce_sum(p_clean * (tf.nn.log_softmax(logits) - tf.math.log(p_adv + 1e-12)), axis=-1)
        weighted = tf.reduce_mean(kl * (1.0000001 - tf.reduce_sum(p_clean * true, axis=-1)))
        return bce + self.beta * weighted, {"adv_loss": ce, "bce": bce, "kl": weighted}


def batch_dependent(model) -> bool:
    """Whether a training-mode output of one example depends on its batch-mates (batch norm)."""
    return any("BatchNormalization" in klass.__name__ for m in model.submodules for klass in type(m).__mro__)


def forward_pair(model, a, b):
    """Training-mode logits of ``a`` and of ``b``: one pass over the two as one batch where no layer
    depends on the batch (each half's outputs are then those of its own pass, up to the order of
    float summation), else two passes, ``a`` first, so batch norm keeps each half's statistics."""
    if batch_dependent(model):
        return model(a, training=True), model(b, training=True)
    logits = model(tf.concat([a, b], 0), training=True)
    n = tf.shape(a)[0]
    return logits[:n], logits[n:]


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


# Objectives defined in their own modules register themselves on import.
from tfrobust.training import entropy_sgd, rotation, weight_perturbation  # noqa: E402,F401
