"""Adversarial training at perturbed weights: AWP (objective ``awp``) and RWP (``rwp``).

Both compute the adversarial examples at the current weights ``w`` with the training attack,
then the adversarial cross-entropy at ``w + v`` for a weight perturbation ``v``; the gradient of
that loss is applied to ``w`` (the reference perturbs, steps and restores, the same update; only
its weight decay acts on ``w + v`` where the optimizer's here acts on ``w``). ``v`` has, for every perturbed variable ``w_l`` separately, the norm ``xi * ||w_l||``
(layer-wise relative size):

- ``awp`` (Wu et al., 2020, AT-AWP): ``v_l = xi * ||w_l|| * g_l / ||g_l||`` with ``g_l`` the
  gradient of the adversarial cross-entropy at ``w`` (one ascent step; the reference's ``gamma``
  is ``xi``, default 5e-3 as in Wu et al.; Stutz et al. found 0.01 best on CIFAR-10);
- ``rwp`` (Stutz et al., 2021, AT with random weight perturbations): ``v_l`` uniform on the sphere
  of radius ``xi * ||w_l||`` (a normal draw from the step's seed, normalised). The default
  ``xi = 0.5`` is the size of Stutz et al.'s average-case flatness measure; their training sweep
  covers 0.05 to 1.

Perturbed are the kernels: the trainable variables of rank >= 2, as in the reference (which skips
tensors of rank <= 1). Biases and the scale and offset of normalisation layers are vectors, and
moving statistics are not trainable, so none of them moves. A variable with a mask
(:func:`~tfrobust.layers.prunable_variables`) moves only on the mask's support, and its norm counts
only the support, so pruned weights stay exactly zero.

Mechanics: ``loss`` adds ``v`` to the variables, runs the forward pass that the training step's
tape records, then assigns the saved original values back (not ``- v``: float roundoff would
drift), all inside the one compiled step; the gradient uses the values read in the forward pass.
AWP's ascent pass runs in training mode (as the reference's proxy model does) and the batch-norm
moving statistics it updates are put back, so they are updated once per step, at ``w + v``.
Under a distribution strategy every replica applies the same ``v``: AWP all-reduces the
gradients (the ascent on the global batch), RWP the random draws.

Departures from the references: AWP's ascent is one normalised gradient step on ``v`` itself
(the reference's proxy-model SGD step with learning rate 0.01 gives the same direction, since the
step is normalised); there is no AWP warm-up (the reference starts it after ``awp_warmup``
epochs). Stutz et al.'s weights-and-inputs trainer clips the gradients taken at the perturbed
weights to [-0.05, 0.05] entrywise; here they are not clipped.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
from typing import List, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from tfrobust.layers.compressible import prunable_variables
from tfrobust.training.objectives import OBJECTIVES, Objective

Kernel = Tuple[tf.Variable, Optional[tf.Variable]]  # a perturbed variable and its mask (or None)


def perturbed_kernels(model) -> List[Kernel]:
    """The variables a weight perturbation moves: ``(variable, mask or None)`` for every trainable
    variable of rank >= 2 (kernels), the mask where the variable is prunable."""
    masks = {id(p.variable): p.mask for p in prunable_variables(model)}
    return [(v, masks.get(id(v))) for v in model.trainable_variables if v.shape.rank >= 2]


def on_support(tensor, mask) -> tf.Tensor:
    """``tensor * mask`` (``tensor`` where there is no mask)."""
    return tensor if mask is None else tensor * tf.cast(mask, tensor.dtype)


def layerwise_relative(directions: Sequence[tf.Tensor], kernels: Sequence[Kernel], xi: float) -> List[tf.Tensor]:
    """Each direction restricted to its mask's support and scaled to the norm ``xi * ||w_l||``
    (``||w_l||`` on the support); a zero direction stays zero."""
    out = []
    for d, (w, mask) in zip(directions, kernels):
        d = on_support(tf.convert_to_tensor(d, w.dtype), mask)
        radius = xi * tf.norm(on_support(tf.convert_to_tensor(w), mask))
        out.append(radius * tf.math.divide_no_nan(d, tf.norm(d)))
    return out


def snapshot(variables) -> List[tf.Tensor]:
    """Copies of the variables' current values."""
    return [tf.identity(v) for v in variables]


def assign(variables, values) -> None:
    """Sets ``variables`` to ``values`` from the training step (a replica context) or outside it.
    Mirrored variables are set through the strategy (every replica must give the same values);
    sync-on-read ones (batch-norm statistics) per replica."""
    variables, values = list(variables), list(values)
    ctx = tf.distribute.get_replica_context()
    mirrored = [i for i, v in enumerate(variables)
                if tf.distribute.has_strategy() and ctx is not None
                and getattr(v, "synchronization", None) != tf.VariableSynchronization.ON_READ
                and isinstance(v, tf.distribute.DistributedValues)]
    for i, (var, value) in enumerate(zip(variables, values)):
        if i not in mirrored:
            var.assign(value)
    if mirrored:
        def merge(strategy, pairs):
            for var, value in pairs:
                strategy.extended.update(var, lambda v, x: v.assign(x), args=(value,), group=False)

        ctx.merge_call(merge, args=([(variables[i], values[i]) for i in mirrored],))


def all_reduce_sum(values: List[tf.Tensor]) -> List[tf.Tensor]:
    """The sum over replicas of each value (the value itself without a strategy)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return values
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def normalization_statistics(model) -> List[tf.Variable]:
    """The moving statistics of the batch-normalisation layers of ``model``."""
    out = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            out.extend(layer.non_trainable_weights)
    return out


@contextlib.contextmanager
def statistics_kept(model):
    """Puts the batch-norm moving statistics back as they were on leaving the block."""
    stats = normalization_statistics(model)
    saved = snapshot(stats)
    try:
        yield
    finally:
        assign(stats, saved)


@contextlib.contextmanager
def weights_moved(kernels: Sequence[Kernel], deltas: Sequence[tf.Tensor]):
    """Inside the block the kernels hold ``w + delta``; on leaving, exactly ``w`` again."""
    variables = [w for w, _ in kernels]
    saved = snapshot(variables)
    assign(variables, [w + d for w, d in zip(saved, deltas)])
    try:
        yield
    finally:
        assign(variables, saved)


@dataclasses.dataclass(frozen=True)
class WeightPerturbed(Objective):
    """Adversarial cross-entropy at ``w + v`` (see the module docstring); subclasses give ``v``."""

    xi: float = 5e-3
    uses_attack = True
    spec_name = "weight-perturbed"  # the registered name, for messages

    def __post_init__(self):
        super().__post_init__()
        self.check_nonnegative("xi", self.spec_name)

    @abc.abstractmethod
    def perturbation(self, model, kernels: Sequence[Kernel], x_adv, y, seed) -> List[tf.Tensor]:
        """``v``, one tensor per kernel."""

    def loss(self, model, x, y, seed):
        x_adv = self.adversarial(model, x, y, seed)
        kernels = perturbed_kernels(model)
        v = [tf.stop_gradient(d) for d in self.perturbation(model, kernels, x_adv, y, seed)]
        with weights_moved(kernels, v):
            loss = self.cross_entropy(model(x_adv, training=True), y)
        return loss, {"adv_loss": loss}


@OBJECTIVES.register("awp")
@dataclasses.dataclass(frozen=True)
class AWP(WeightPerturbed):
    """Adversarial weight perturbation (Wu et al., 2020): the adversarial cross-entropy at ``w + v``,
    ``v`` one layer-wise normalised ascent step of relative size ``xi`` (default 5e-3) on that loss;
    see :mod:`tfrobust.training.weight_perturbation`."""

    spec_name = "awp"

    def perturbation(self, model, kernels, x_adv, y, seed):
        variables = [w for w, _ in kernels]
        with statistics_kept(model):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(variables)
                ascent = self.cross_entropy(model(x_adv, training=True), y)
        grads = tape.gradient(ascent, variables)
        n = tf.cast(tf.shape(x_adv)[0], variables[0].dtype) if variables else 1.0
        grads = [tf.zeros_like(w) if g is None else tf.convert_to_tensor(g) * n for g, w in zip(grads, variables)]
        return layerwise_relative(all_reduce_sum(grads), kernels, self.xi)


@OBJECTIVES.register("rwp")
@dataclasses.dataclass(frozen=True)
class RWP(WeightPerturbed):
    """Adversarial training at randomly perturbed weights (Stutz et al., 2021): the adversarial
    cross-entropy at ``w + v``, ``v`` uniform on the sphere of relative size ``xi`` (default 0.5)
    per kernel; see :mod:`tfrobust.training.weight_perturbation`."""

    xi: float = 0.5
    spec_name = "rwp"

    def perturbation(self, model, kernels, x_adv, y, seed):
        seed = tf.random.experimental.stateless_fold_in(seed, 0x5257)  # not the attack's draws
        draws = [tf.random.stateless_normal(tf.shape(w), tf.random.experimental.stateless_fold_in(seed, i),
                                            dtype=w.dtype) for i, (w, _) in enumerate(kernels)]
        return layerwise_relative(all_reduce_sum(draws), kernels, self.xi)
