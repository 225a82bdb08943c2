"""What every attack shares: the call signature, seeding, compilation, labels and the loss.

An attack is a frozen dataclass of its settings. Call it as ``attack(model, x, y) -> x_adv`` with
inputs in [0, 1]; ``y`` may be ``None`` to attack the model's own predictions. The first call for a
model compiles ``perturb`` into one graph (``tf.function``), so a whole batch, every iteration and
every restart, runs without returning to Python. Inside another compiled function (a training
step), call ``attack.perturb(model, x, y, seed)`` directly with a seed tensor of shape [2].

Attacks that count their work (``counts_passes``) implement ``perturb_counted``, which also returns
``passes``: an int64 tensor ``[forward, backward]`` of single-example passes through the model
(a batch of 50 forward is 50). ``attack.run(model, x, y)`` calls it compiled.

Compactable attacks (``compactable``: PGD keeping its best iterate) also take per-example seeds, a
[batch, 2] tensor, and run in rounds (their restarts): ``perturb_round(model, x, y, seeds, r)`` is
round ``r`` alone. An example's output then depends only on the example, its label and its own
seed, and is misclassified whenever the input is, so an evaluation may attack only the examples
still classified correctly, gathered into full batches (:mod:`tfrobust.compaction`), and get the
accuracy of attacking every example.
"""
from __future__ import annotations

import abc
import dataclasses
import functools
import math
import weakref
from typing import Optional

import tensorflow as tf

from tfrobust.attacks.example_random import fold_rows
from tfrobust.attacks.rows import batch_mask
from tfrobust.config import COUNT_MAX  # steps and restarts are int32 loop counters in the graph
from tfrobust.errors import ConfigError
from tfrobust.spec import format_spec


ATTACK_SEED_MAX = 2 ** 63 - 1  # an attack's seed is int64 in the graph, and nothing is added to it


def is_number(value) -> bool:
    """A finite Python int or float, not a bool (a string, None, NaN or 10**400 is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int too large for a float
        return False


def is_integer(value, minimum: int, maximum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= maximum


def per_example_loss(logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy of each example (models output logits)."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=logits)


def predicted_labels(model, x: tf.Tensor) -> tf.Tensor:
    """The model's classes for ``x``; an empty batch gets none without a model call (see rows.py)."""
    return tf.cond(tf.shape(x)[0] > 0, lambda: tf.argmax(model(x, training=False), axis=-1, output_type=tf.int64),
                   lambda: tf.zeros([0], tf.int64))


def per_example_norm(v: tf.Tensor, keepdims: bool = True) -> tf.Tensor:
    """L2 norm over all but the batch axis."""
    axes = list(range(1, v.shape.rank))
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=axes, keepdims=keepdims))


def distance(x_adv: tf.Tensor, x: tf.Tensor, norm: str) -> tf.Tensor:
    """Per-example distance in ``norm`` ("linf" or "l2"), shape [batch]."""
    delta = tf.reshape(x_adv - x, [tf.shape(x)[0], -1])
    if norm == "linf":
        return tf.reduce_max(tf.abs(delta), axis=1)
    return tf.sqrt(tf.reduce_sum(tf.square(delta), axis=1))


def fold_in(seed: tf.Tensor, data) -> tf.Tensor:
    """``stateless_fold_in`` of a [2] seed, or each row of [batch, 2] per-example seeds folded with
    ``data`` (:func:`tfrobust.attacks.example_random.fold_rows`)."""
    if seed.shape.rank == 2:
        return fold_rows(seed, data)
    return tf.random.experimental.stateless_fold_in(seed, data)


def count(x: tf.Tensor, forward: int = 1, backward: int = 0) -> tf.Tensor:
    """``passes`` for ``forward`` forward and ``backward`` backward passes of the batch ``x``."""
    n = tf.cast(tf.shape(x)[0], tf.int64)
    return tf.stack([n * forward, n * backward])


NO_PASSES = (0, 0)  # tf.constant(NO_PASSES, tf.int64) starts a count


class _NoModel:
    """Stands for "no model" (corruptions) as a key of the per-model cache of compiled functions."""


_NO_MODEL = _NoModel()


def _model_of(ref):
    model = ref()
    return None if model is _NO_MODEL else model


def _run_labelled(attack, method, ref, x, y, seed):
    return getattr(attack, method)(_model_of(ref), x, y, seed)


def _run_round(attack, ref, x, y, seeds, r):
    return attack.perturb_round(ref(), x, y, seeds, r)


def _run_unlabelled(attack, method, ref, x, seed):
    return getattr(attack, method)(_model_of(ref), x, None, seed)


@dataclasses.dataclass(frozen=True)
class Attack(abc.ABC):
    """Base of all attacks. ``seed`` makes every random draw repeatable."""

    name = "attack"  # the registry name, set by each subclass
    training_defaults = {}  # settings a training attack takes unless its spec sets them
    needs_model = False  # corruptions ignore the model; gradient attacks need one
    counts_passes = False  # True where perturb_counted counts forward and backward passes
    costly = False  # True: training runs evaluate it only at their end (AutoAttack)
    compactable = False  # True: per-example seeds, rounds, never helps the model (see the module doc)

    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "_compiled", weakref.WeakKeyDictionary())
        object.__setattr__(self, "_calls", 0)
        self.validate()

    # ---- settings -------------------------------------------------------------------------
    def validate(self) -> None:
        """Raises :class:`ConfigError` for a setting out of range; subclasses extend it."""
        self._check(is_integer(self.seed, 0, ATTACK_SEED_MAX), "seed", "an integer in 0..2**63-1")

    def _check(self, ok: bool, field: str, allowed: str) -> None:
        if not ok:
            raise ConfigError(
                f"attack {self.name!r}: {field}={getattr(self, field)!r} is not allowed; "
                f"{field} must be {allowed}"
            )

    def _check_number(self, field: str, minimum: float = 0, strict: bool = False) -> None:
        """``field`` must be a finite number ``>= minimum`` (``> minimum`` when ``strict``)."""
        value = getattr(self, field)
        ok = is_number(value) and (value > minimum if strict else value >= minimum)
        self._check(ok, field, f"a finite number {'>' if strict else '>='} {minimum}")

    def _check_count(self, field: str) -> None:
        """``field`` must be an integer >= 1 that fits a graph loop counter."""
        self._check(is_integer(getattr(self, field), 1, COUNT_MAX), field, "an integer >= 1 (at most 2**31-1)")

    def _check_norm(self, norms) -> None:
        """``norm`` must be one of ``norms``."""
        self._check(isinstance(self.norm, str) and self.norm in norms, "norm", f"one of {', '.join(norms)}")

    def _check_bool(self, field: str) -> None:
        self._check(isinstance(getattr(self, field), bool), field, "true or false")

    @property
    def radius(self) -> Optional[float]:
        """The largest distance (in ``norm``) from the input an output can have, if bounded."""
        return None

    norm = "linf"

    @property
    def label(self) -> str:
        """The attack's spec string, ``name:key=value,...``, listing the non-default settings."""
        changed = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }
        return format_spec(self.name, changed)

    def settings(self) -> dict:
        return {"name": self.name, **dataclasses.asdict(self)}

    # ---- running --------------------------------------------------------------------------
    @abc.abstractmethod
    def perturb(self, model, x: tf.Tensor, y: Optional[tf.Tensor], seed: tf.Tensor) -> tf.Tensor:
        """The attack as a graph-friendly function of a [2] integer seed tensor."""

    def perturb_counted(self, model, x: tf.Tensor, y: Optional[tf.Tensor], seed: tf.Tensor):
        """``(x_adv, passes)``; attacks with ``counts_passes`` override it (and ``perturb`` calls
        it). Elsewhere ``passes`` is [-1, -1]: not counted."""
        return self.perturb(model, x, y, seed), tf.constant([-1, -1], tf.int64)

    def rounds(self) -> int:
        """Rounds of a compactable attack (its restarts) that an evaluation may stop between."""
        return 1

    def perturb_round(self, model, x, y, seeds, r) -> tf.Tensor:
        """Round ``r`` of a compactable attack on ``x`` (every example classified correctly) with
        [batch, 2] per-example ``seeds``; ``perturb`` with the same seeds is every round in turn,
        keeping per example the worst output for the model."""
        raise NotImplementedError(f"attack {self.name!r} is not compactable")

    def run_round(self, model, x, y, seeds, r):
        """``perturb_round`` compiled once per model and input shape (``r`` is a graph input)."""
        if len(x) == 0:  # no example: see _compiled_call
            return tf.convert_to_tensor(x, tf.float32)
        key = ("perturb_round", tuple(x.shape[1:]))
        fns = self._compiled.setdefault(model, {})
        if key not in fns:
            ref = weakref.ref(model)
            fns[key] = tf.function(
                functools.partial(_run_round, self, ref),
                input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64),
                                 tf.TensorSpec([None, 2], tf.int64), tf.TensorSpec([], tf.int64)])
        return fns[key](tf.convert_to_tensor(x, tf.float32), tf.cast(y, tf.int64), tf.cast(seeds, tf.int64),
                        tf.constant(r, tf.int64))

    def check_labels(self, y) -> None:
        """Raises :class:`ConfigError` when the attack cannot run with labels ``y``."""

    def check_input(self, input_shape) -> None:
        """Raises :class:`ConfigError` when the attack cannot run on inputs of ``input_shape``."""

    def check_classes(self, num_classes: int) -> None:
        """Raises :class:`ConfigError` when the attack cannot run on ``num_classes`` classes."""

    def __call__(self, model, x, y=None, seed=None) -> tf.Tensor:
        return self._compiled_call("perturb", model, x, y, seed)

    def run(self, model, x, y=None, seed=None):
        """``(x_adv, passes)`` as numpy-convertible tensors: ``perturb_counted``, compiled."""
        return self._compiled_call("perturb_counted", model, x, y, seed)

    def _compiled_call(self, method: str, model, x, y, seed):
        if model is None and self.needs_model:
            raise ConfigError(f"attack {self.name!r}: model=None is not allowed; it needs a Keras model")
        self.check_labels(y)
        key = _NO_MODEL if model is None else model  # corruptions need no model
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        if y is not None:
            y = tf.convert_to_tensor(y, dtype=tf.int64)
        if seed is None:
            seed = tf.constant([self.seed, self._calls], dtype=tf.int64)
            object.__setattr__(self, "_calls", self._calls + 1)
        seed = tf.cast(seed, tf.int64)
        if seed.shape.rank == 2 and not self.compactable:
            raise ConfigError(f"attack {self.name!r} takes one [2] seed per batch, not per-example seeds")
        if x.shape[0] == 0:  # no example: nothing to attack (and no model call on an empty batch, see rows.py)
            return x if method == "perturb" else (x, tf.zeros([2], tf.int64))
        fns = self._compiled.setdefault(key, {})
        signature = (method, tuple(x.shape[1:]), y is None, seed.shape.rank)
        fn = fns.get(signature)
        if fn is None:  # one graph for every batch size: a smaller last batch does not retrace
            ref = weakref.ref(key)
            specs = [tf.TensorSpec([None, *x.shape[1:]], tf.float32), tf.TensorSpec([None], tf.int64),
                     tf.TensorSpec([None, 2] if seed.shape.rank == 2 else [2], tf.int64)]
            # A partial, not a lambda: TensorFlow counts traces per code object, and would warn of
            # "retracing" when many attacks (AutoAttack's stages) each trace their own function.
            if y is None:
                fn = tf.function(functools.partial(_run_unlabelled, self, method, ref),
                                 input_signature=[specs[0], specs[2]])
            else:
                fn = tf.function(functools.partial(_run_labelled, self, method, ref), input_signature=specs)
            fns[signature] = fn
        return fn(x, seed) if y is None else fn(x, y, seed)

    def probe(self) -> "Attack":
        """The attack that the evaluation's sanity checks rerun at other radii on a few examples:
        this one, or a cheaper one of the same kind (AutoAttack: its first stage)."""
        return self

    def with_radius(self, eps: float) -> "Attack":
        """This attack with its radius ``eps`` replaced, validated except that 0 is allowed (the
        sanity checks run every attack at radius 0). Only for attacks with an ``eps`` setting."""
        if eps != 0:
            return dataclasses.replace(self, eps=eps)
        copy = dataclasses.replace(self)
        object.__setattr__(copy, "eps", 0.0)
        return copy


@dataclasses.dataclass(frozen=True)
class GradientAttack(Attack):
    """An attack that follows the gradient of the loss.

    ``targeted``: ``y`` holds target classes and the attack lowers their loss.
    ``predicted_labels``: attack the model's predictions even when labels are given (what the
    lottery-ticket reference implementation did).
    """

    targeted: bool = False
    predicted_labels: bool = False
    needs_model = True

    def validate(self) -> None:
        super().validate()
        self._check_bool("targeted")
        self._check_bool("predicted_labels")
        if self.targeted and self.predicted_labels:
            raise ConfigError(
                f"attack {self.name!r}: targeted=True needs target labels; "
                "predicted_labels=True would replace them"
            )

    def check_labels(self, y) -> None:
        if self.targeted and y is None:
            raise ConfigError(f"attack {self.name!r}: a targeted attack needs target labels y")

    def labels(self, model, x, y):
        self.check_labels(y)
        if y is None or self.predicted_labels:
            return predicted_labels(model, x)
        return y

    def objective(self, logits, y):
        """Per-example quantity the attack raises: the loss, or minus the target's loss."""
        loss = per_example_loss(logits, y)
        return -loss if self.targeted else loss

    def objective_and_gradient(self, model, x, y):
        """(per-example objective, its gradient w.r.t. x, logits) in one forward/backward pass."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            logits = model(x, training=False)
            objective = self.objective(logits, y)
            total = tf.reduce_sum(objective)
        return objective, tape.gradient(total, x), logits

    def succeeded(self, logits, y):
        """Per example: the attack reached its goal (misclassified, or classified as the target)."""
        pred = tf.argmax(logits, axis=-1, output_type=tf.int64)
        y = tf.cast(y, tf.int64)
        return tf.equal(pred, y) if self.targeted else tf.not_equal(pred, y)

    def keep_worse(self, best, x_new, logits_new, y):
        """Per example, keeps whichever of ``best`` and ``x_new`` is worse for the model.

        ``best`` is ``(x, objective, succeeded)``. Success beats failure; between two successes
        or two failures the higher objective wins. Used to keep the worst case over iterations
        and restarts, so that more of either can never help the model.
        """
        best_x, best_obj, best_ok = best
        obj = self.objective(logits_new, y)
        ok = self.succeeded(logits_new, y)
        better = (ok & ~best_ok) | ((ok == best_ok) & (obj > best_obj))
        return (
            tf.where(batch_mask(better, x_new), x_new, best_x),
            tf.where(better, obj, best_obj),
            ok | best_ok,
        )


@dataclasses.dataclass(frozen=True)
class CountingAttack(GradientAttack):
    """A gradient attack that counts its forward and backward passes: subclasses implement
    ``perturb_counted`` and get ``perturb`` from it. ``eps`` (> 0) bounds its outputs in ``norm``."""

    counts_passes = True

    def perturb(self, model, x, y, seed):
        return self.perturb_counted(model, x, y, seed)[0]

    @abc.abstractmethod
    def perturb_counted(self, model, x, y, seed):
        """``(x_adv, passes)`` with ``passes`` = int64 [forward, backward] single-example passes."""
