"""Entropy-SGD with adversarial training (objective ``entropy_sgd``; Chaudhari et al., 2017, as
Stutz et al., 2021 train it in ``entropy_adversarial_training.py`` with the official optimizer).

Each training step runs ``inner_steps`` (``L``) steps of stochastic gradient Langevin dynamics from
the current weights ``w``, then moves ``w`` towards the running average ``mu`` of that chain::

    w' = w, mu = w
    L times:  x_adv = the training attack on the batch at w'            (recomputed every step)
              g = gradient of the adversarial cross-entropy at w'
              w' <- w' - inner_lr * (g - gamma * (w - w') + noise / sqrt(inner_lr / 2) * N(0, 1))
              mu <- alpha * mu + (1 - alpha) * w'
    w is restored exactly; the loss's gradient is that of  1/2 * sum ||w - stop_gradient(mu)||²,

so the optimizer applies the gradient ``w - mu`` with the run's learning rate, as the reference
code does (the paper's update ``eta * gamma * (w - mu)`` with ``gamma`` folded into the learning
rate). The chain moves every trainable variable (as the reference: biases and batch-norm scales
too); a masked variable moves only on its mask's support (its noise is masked), so pruned weights
stay zero. Defaults are the reference's: ``gamma = 1e-4`` (Stutz et al.'s setting; the official
optimizer's default is 1e-2), ``noise = 1e-4``, the Langevin rate ``inner_lr = 0.1`` and
``alpha = 0.75``; ``inner_steps = 5`` (Stutz et al. use L in {1, 2, 3, 5} with 150/L epochs,
Chaudhari et al. 5 to 20). The inner loop is unrolled in the compiled step (so at most 100 steps).

The loss's value is ``adv_loss``, the adversarial cross-entropy at ``w`` (the chain's first step,
whose adversarial examples are exactly ``madry``'s), so the run's training loss reads as
``madry``'s; ``distance``, ``sum ||w - mu||²``, is logged too.

Departures from the reference: every inner step uses the step's batch (the reference's closure
draws a new batch for each inner step, so one of its updates consumes ``L + 1`` batches); the
inner steps take no momentum and no weight decay (the reference applies the outer optimizer's
Nesterov momentum and weight decay inside the chain too) and its wasted first gradient at ``w``
is not computed; ``gamma`` has no scoping schedule (Stutz et al.'s copy of the optimizer never
advances the scoping counter, so it is constant there too). Batch-norm moving statistics are
updated by every inner forward pass, as in the reference. Under a distribution strategy the chain
uses the global batch's gradient and one noise draw shared by all replicas.
"""
from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables
from tfrobust.training.objectives import OBJECTIVES, Objective
from tfrobust.training.weight_perturbation import all_reduce_sum, assign, on_support, snapshot

MAX_INNER_STEPS = 100


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@OBJECTIVES.register("entropy_sgd")
@dataclasses.dataclass(frozen=True)
class EntropySGD(Objective):
    """Entropy-SGD on the adversarial cross-entropy; see :mod:`tfrobust.training.entropy_sgd`."""

    inner_steps: int = 5
    gamma: float = 1e-4
    noise: float = 1e-4
    inner_lr: float = 0.1
    alpha: float = 0.75
    uses_attack = True

    def __post_init__(self):
        super().__post_init__()
        checks = [
            ("inner_steps", isinstance(self.inner_steps, int) and not isinstance(self.inner_steps, bool)
             and 1 <= self.inner_steps <= MAX_INNER_STEPS, f"an integer in 1..{MAX_INNER_STEPS}"),
            ("gamma", _number(self.gamma) and self.gamma >= 0, "a finite number >= 0"),
            ("noise", _number(self.noise) and self.noise >= 0, "a finite number >= 0"),
            ("inner_lr", _number(self.inner_lr) and self.inner_lr > 0, "a finite number > 0"),
            ("alpha", _number(self.alpha) and 0 <= self.alpha < 1, "a number in [0, 1)"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"objective 'entropy_sgd': {name}={getattr(self, name)!r} is not allowed; "
                                  f"it must be {allowed}")

    def local_average(self, model, x, y, seed):
        """``(mu, adv_loss)``: the chain's running average (one tensor per trainable variable) and
        the adversarial cross-entropy at ``w``. The model's trainable variables end exactly as
        they started."""
        variables = model.trainable_variables
        masks = {id(p.variable): p.mask for p in prunable_variables(model)}
        w = snapshot(variables)
        mu, adv_loss = list(w), None
        local = tf.cast(tf.shape(x)[0], tf.float32)
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        scale = self.noise / math.sqrt(0.5 * self.inner_lr) / math.sqrt(replicas)
        noise_seed = tf.random.experimental.stateless_fold_in(seed, 0x45534744)  # not the attack's draws
        for step in range(self.inner_steps):
            step_seed = seed if step == 0 else tf.random.experimental.stateless_fold_in(seed, step)
            x_adv = self.adversarial(model, x, y, step_seed)
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(variables)
                ce = self.cross_entropy(model(x_adv, training=True), y)
            grads = tape.gradient(ce, variables)
            if step == 0:
                adv_loss = ce
            grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) * tf.cast(local, v.dtype)
                     for g, v in zip(grads, variables)]
            draws = [] if self.noise == 0 else [tf.random.stateless_normal(
                tf.shape(v), tf.random.experimental.stateless_fold_in(noise_seed, step * len(variables) + i),
                dtype=v.dtype) for i, v in enumerate(variables)]
            reduced = all_reduce_sum(grads + draws + [local])  # one collective for all three
            grads, draws, total = reduced[:len(variables)], reduced[len(variables):-1], reduced[-1]
            current = snapshot(variables)
            moved = []
            for i, (v, g, w0, now) in enumerate(zip(variables, grads, w, current)):
                step_direction = g / tf.cast(total, v.dtype) - self.gamma * (w0 - now)
                if draws:
                    step_direction += scale * on_support(draws[i], masks.get(id(v)))
                moved.append(now - self.inner_lr * step_direction)
            assign(variables, moved)
            mu = [self.alpha * m + (1.0 - self.alpha) * new for m, new in zip(mu, moved)]
        assign(variables, w)
        return mu, adv_loss

    def loss(self, model, x, y, seed):
        mu, adv_loss = self.local_average(model, x, y, seed)
        mu = [tf.stop_gradient(m) for m in mu]
        variables = model.trainable_variables
        distance = tf.add_n([tf.reduce_sum(tf.square(v - m)) for v, m in zip(variables, mu)])
        # The value is the adversarial loss at w (what train_loss and the divergence check read);
        # the gradient is that of distance / 2: w - mu.
        surrogate = 0.5 * distance
        return tf.stop_gradient(adv_loss - surrogate) + surrogate, {"adv_loss": adv_loss, "distance": distance}
