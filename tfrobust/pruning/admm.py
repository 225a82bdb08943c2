"""Concurrent adversarial training and ADMM pruning (Ye et al., "Adversarial Robustness vs. Model
Compression, or Both?", seed 000; the ADMM of Zhang et al.).

ADMM splits ``min loss(W)  s.t.  W in S`` (S: a sparsity constraint per layer) into a training
loss with a proximal term and a projection. For every pruned variable ``W`` the hook holds ``Z``
(a point of S) and ``U`` (the scaled dual), and the loss becomes

    loss(W) + sum over layers of rho/2 * ||W - Z + U||^2         (:meth:`Admm.penalty`)

``Z`` starts as the projection of ``W`` and ``U`` at 0. Every ``every`` iterations, ``rho`` is
multiplied by ``growth`` and

    Z = Proj_S(W + U);   U = U + W - Z

(the reference grows rho at each update too, from 0.001 by 1.3). The primal residual ||W - Z||
goes to 0 as W approaches S; then a hard prune (:func:`hard_prune_masks`: the projection of W,
as a mask) loses little, and masked retraining recovers the rest. Z, U and rho are saved in the
run's checkpoint (the hook's ``state``), so a killed run resumes exactly. Each update's residuals
(before and after it) go into the next evaluation record, so the curve has a point per update.

    admm = Admm(ratios={"conv_1": 0.8, "fc_1": 0.95}, sparsity="irregular", rho=1e-3, growth=1.3, every=300)
    setup = admm.attach(build(config))              # adds the penalty to the setup's regularisers
    Trainer(setup, run_dir, hooks=[admm]).run()
    masks = hard_prune_masks(model, admm.ratios, "irregular")

The pipeline pretrain -> ADMM -> masked retraining is :mod:`tfrobust.pruning.admm_pipeline`.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables
from tfrobust.layers.masks import unknown_masks_error
from tfrobust.pruning.projections import SPARSITY, check_leaves_some, project, unit_shape
from tfrobust.training.hooks import Hook


def check_ratios(model, ratios: Mapping[str, float], sparsity: Optional[str] = None) -> Dict[str, float]:
    """``ratios`` checked against the model's prunable variables (unknown names fail, naming the
    known ones) and the range [0, 1), and, with ``sparsity``, refused where they would remove every
    unit of a layer; layers at ratio 0 are left out."""
    entries = prunable_variables(model)
    names = [p.name for p in entries]
    unknown = set(ratios) - set(names)
    if unknown:
        raise unknown_masks_error(unknown, names)
    for name, ratio in ratios.items():
        if not 0.0 <= ratio < 1.0:
            raise ConfigError(f"the prune ratio of {name} is {ratio!r}; it must be in [0, 1)")
    for p in entries:
        if sparsity is not None and ratios.get(p.name, 0.0) > 0:
            check_leaves_some(p.name, unit_shape(tuple(p.variable.shape), sparsity)[0], sparsity, ratios[p.name])
    return {name: float(ratios[name]) for name in names if ratios.get(name, 0.0) > 0}


def hard_prune_masks(model, ratios: Mapping[str, float], sparsity: str) -> Dict[str, np.ndarray]:
    """Mask name -> the 0/1 mask of the projection of the current weights, for every prunable
    variable (those not in ``ratios`` keep their mask)."""
    out = {}
    for p in prunable_variables(model):
        mask = p.mask.numpy()
        if p.name in ratios:
            mask = mask * project(p.variable.numpy(), sparsity, ratios[p.name])[1]
        out[p.name] = mask.astype(np.float32)
    return out


class _State(tf.Module):
    """Z and U per pruned variable, rho, and the number of updates made: what the checkpoint holds."""

    def __init__(self, shapes: Mapping[str, tuple], rho: float):
        super().__init__(name="admm")
        self.z = {name: tf.Variable(tf.zeros(shape), trainable=False, name=f"z_{name}") for name, shape in shapes.items()}
        self.u = {name: tf.Variable(tf.zeros(shape), trainable=False, name=f"u_{name}") for name, shape in shapes.items()}
        self.rho = tf.Variable(rho, dtype=tf.float32, trainable=False, name="rho")
        self.updates = tf.Variable(0, dtype=tf.int64, trainable=False, name="updates")


@dataclasses.dataclass(eq=False)
class Admm(Hook):
    """The ADMM training hook and its penalty term (see the module docstring).

    ``ratios``: mask name -> the fraction of its units to remove; ``sparsity``: ``irregular``,
    ``filter`` or ``column`` (:mod:`tfrobust.pruning.projections`); ``rho``: the initial penalty;
    ``growth``: its factor at every update; ``every``: iterations between updates. At each
    evaluation point the record gets ``admm``: rho, the number of updates, the residual ||W - Z||
    per layer, in total and relative to ||W||, and ``since_last``: each update since the previous
    evaluation point (its step, rho, and the relative residual before and after it).

    Another constraint set is a subclass that overrides :meth:`names` (which variables) and
    :meth:`target` (the projection): ATMC's quantization ADMM
    (:class:`tfrobust.compression.quant_admm.QuantizationAdmm`).
    """

    ratios: Dict[str, float]
    sparsity: str = "irregular"
    rho: float = 1e-3
    growth: float = 1.3
    every: int = 500

    def __post_init__(self):
        if self.sparsity not in SPARSITY:
            raise ConfigError(f"sparsity {self.sparsity!r} is not allowed; allowed: {', '.join(SPARSITY)}")
        if not (self.rho > 0 and np.isfinite(self.rho)):
            raise ConfigError(f"rho={self.rho!r} is not allowed; it must be a finite number > 0")
        if not (self.growth >= 1 and np.isfinite(self.growth)):
            raise ConfigError(f"rho growth {self.growth!r} is not allowed; it must be a finite number >= 1")
        if self.every < 1:
            raise ConfigError(f"the ADMM period {self.every!r} is not allowed; it must be >= 1")
        self._state = None

    # ---- the penalty: a regulariser term ------------------------------------------------------
    def attach(self, setup):
        """``setup`` with :meth:`penalty` among its regularisers."""
        return dataclasses.replace(setup, regularizers=tuple(setup.regularizers) + (self.penalty,))

    # ---- what a subclass changes: the constrained variables and the projection onto the set ----
    def names(self, model) -> List[str]:
        """The mask names of the variables under the constraint (checks and sets ``ratios``)."""
        self.ratios = check_ratios(model, self.ratios, self.sparsity)
        return list(self.ratios)

    def target(self, name: str, weights: np.ndarray) -> np.ndarray:
        """The Euclidean projection of ``weights`` (of variable ``name``) onto the constraint set."""
        return project(weights, self.sparsity, self.ratios[name])[0]

    def _variables(self, model) -> Dict[str, tf.Variable]:
        found = {p.name: p.variable for p in prunable_variables(model)}
        return {name: found[name] for name in self._names}

    def penalty(self, model) -> tf.Tensor:
        """sum over pruned variables of rho/2 ||W - Z + U||^2 (a float32 scalar)."""
        s = self._state
        if s is None:
            raise RuntimeError("the ADMM hook's state is made when the trainer restores; attach the hook to the trainer")
        terms = [tf.reduce_sum(tf.square(tf.cast(w, tf.float32) - s.z[name] + s.u[name]))
                 for name, w in self._variables(model).items()]
        return 0.5 * s.rho * tf.add_n(terms) if terms else tf.constant(0.0)

    # ---- the hook -----------------------------------------------------------------------------
    def state(self, trainer):
        self._names = self.names(trainer.model)
        shapes = {name: tuple(w.shape) for name, w in self._variables(trainer.model).items()}
        with trainer.setup.strategy.scope():
            self._state = _State(shapes, self.rho)
        return {"admm": self._state}

    def update(self, model) -> Dict[str, float]:
        """One ADMM update: rho *= growth; Z = Proj(W + U); U = U + W - Z. Returns rho, and
        ||W - Z|| / ||W|| before (how close the period brought W to its target) and after it."""
        s = self._state
        before = self.relative_residual(model)
        s.rho.assign(s.rho * self.growth)
        for name, w in self._variables(model).items():
            w = w.numpy()
            u = s.u[name].numpy()
            z = self.target(name, w + u)
            s.z[name].assign(z)
            s.u[name].assign(u + w - z)
        s.updates.assign_add(1)
        return {"update": int(s.updates.numpy()), "rho": float(s.rho.numpy()), "relative_residual_before": before,
                "relative_residual": self.relative_residual(model)}

    def before_train(self, trainer, start_step):
        self._updates = []  # since the last evaluation point; a resumed run redoes them from the checkpoint
        if start_step == 0:
            for name, w in self._variables(trainer.model).items():
                self._state.z[name].assign(self.target(name, w.numpy()))
                self._state.u[name].assign(tf.zeros_like(w))
            self._state.rho.assign(self.rho)
            self._state.updates.assign(0)

    def after_step(self, trainer, step):
        if step % self.every == 0 and step < trainer.setup.config.train_iters:
            self._updates.append({"step": step, **self.update(trainer.model)})

    def residuals(self, model) -> Dict[str, float]:
        """Layer -> ||W - Z|| (Frobenius)."""
        return {name: float(tf.norm(tf.cast(w, tf.float32) - self._state.z[name]))
                for name, w in self._variables(model).items()}

    def relative_residual(self, model) -> float:
        """||W - Z|| / ||W|` over every pruned variable."""
        variables = self._variables(model)
        norm = np.sqrt(sum(float(tf.reduce_sum(tf.square(w))) for w in variables.values()))
        return float(np.sqrt(sum(r * r for r in self.residuals(model).values())) / max(norm, 1e-12))

    def after_eval(self, trainer, step, record):
        residual = self.residuals(trainer.model)
        record["admm"] = {"rho": float(self._state.rho.numpy()), "updates": int(self._state.updates.numpy()),
                          "residual": residual, "residual_total": float(np.sqrt(sum(r * r for r in residual.values()))),
                          "relative_residual": self.relative_residual(trainer.model), "since_last": self._updates}
        self._updates = []
