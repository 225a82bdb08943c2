"""Average-case and worst-case (robust) flatness of Stutz et al., ICCV 2021.

Both measure how much the loss rises when the weights move inside the layer-wise relative balls
``||nu_l|| <= xi ||w_l||`` of :mod:`tfrobust.flatness.perturbation`:

- **average-case**: ``mean_i RLoss(w + nu_i) - RLoss(w)``, ``nu_i`` uniform on the layer-wise
  spheres (``draws`` of them, ``xi`` = 0.5 in the paper). The attack runs again on every perturbed
  model (in place: the same model object, so its compiled attack is reused).
- **worst-case**: ``max_r RLoss(w + nu*_r) - RLoss(w)`` over ``restarts``, where ``nu*_r`` comes
  from a joint attack on weights and inputs (``steps`` iterations, ``xi`` = 0.003 in the
  reference's example, a much smaller ball).

With ``attack=None`` both use the clean loss instead (the weights-only attack for worst-case).

Every value is a difference of losses on the same examples (:func:`~tfrobust.flatness.losses.batches`),
and ``RLoss`` always uses the same attack seeds (batch ``b``: ``[seed, b]``), for ``w`` and for every
``w + nu``: common random numbers, so the differences carry less noise, and at ``xi = 0`` (where
``nu`` is exactly zero) every measure is exactly 0 (given deterministic kernels: always on CPU; on a
GPU call ``tf.config.experimental.enable_op_determinism()``). The weights are restored bit for bit
after each perturbation, also on an error. ``Flatness.attack_runs`` counts the batch attacks, so
that the cost can be compared with one robust-loss evaluation: average-case costs ``draws + 1``
of them (measured: 10 draws of PGD-20 take about 10x one PGD-20 robust loss).

Where this departs from the reference (github.com/davidstutz/robust-generalization-flatness):

- worst-case robust: the reference's number is ``RLoss(w + nu*, x + delta*)``, on the input
  perturbations ``delta*`` found jointly with ``nu*`` (which, with several batches, were made for
  earlier weights). Here ``value`` reruns the given attack on ``w + nu*`` (so the perturbed and the
  unperturbed robust loss come from the same attack, and ``xi = 0`` gives exactly 0); the joint
  number is reported too, as ``joint_losses`` / ``joint_value``.
- worst-case: the last iterate is scored; the reference's weights-only attack keeps the epoch with
  the highest loss seen during the epoch (a loss of moving weights).
- everything else follows it: one weight perturbation shared by the whole example set, updated
  after every batch (``steps`` passes over the batches, the input perturbation of each batch kept
  between passes), simultaneous input and weight steps from one gradient, the weight gradient
  normalised per layer to ``||w_l||`` then scaled by ``weight_step`` (0.01), the ball projection
  after each step, a start inside the ball with a uniform radius, the input step the attack's
  signed (L-inf) or normalised (L2) step of ``step_size`` projected on its ``eps`` ball and [0, 1].

Reference settings (experiments/iccv/common.py, ``cifar10_benchmark``, and examples/): average-case
``xi`` = 0.5, 10 draws, PGD-20 (L-inf, eps 8/255 = 0.0314, step 0.007), the first 1000 test
examples; worst-case ``xi`` in {0.00075, 0.001, 0.002, 0.003, 0.004, 0.005} (0.003 in the
examples), 20 iterations, weight step 0.01, 10 restarts, the same 1000 examples, batch 128.
"""
from __future__ import annotations

import dataclasses
import time
import weakref
from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack, per_example_loss
from tfrobust.attacks.pgd import ascent_direction, project as project_inputs, random_point
from tfrobust.errors import ConfigError
from tfrobust.flatness.losses import Batch, as_attack, batches, count_examples, loss_on
from tfrobust.flatness.perturbation import (Perturbable, check_count, check_positive, check_seed, check_xi,
                                            derive_seed, layer_norms, normalize_gradient_tensors, perturbable,
                                            perturbed, project_deltas, random_in_ball, random_sphere)


@dataclasses.dataclass(frozen=True)
class Flatness:
    """A flatness measurement.

    ``value``: the measure (mean of ``values`` for average-case, max for worst-case);
    ``reference``: the loss at ``w`` (robust, or clean with no attack); ``losses``: the loss at
    each ``w + nu`` (per draw or restart); ``values``: ``losses - reference``; ``examples``: how
    many examples; ``attack_runs``: batch attacks run, the reference's included (0 when clean);
    ``seconds``: wall time; worst-case robust only: ``joint_losses`` (``RLoss(w + nu*, x +
    delta*)`` per restart, the reference's number) and ``joint_value`` (their max - reference).
    """

    value: float
    reference: float
    losses: Tuple[float, ...]
    values: Tuple[float, ...]
    examples: int
    attack_runs: int
    seconds: float
    joint_losses: Optional[Tuple[float, ...]] = None
    joint_value: Optional[float] = None


def _setup(model, data, attack, max_examples, batch_size, seed):
    attack = as_attack(attack)
    seed = check_seed(seed)
    data = batches(data, max_examples, batch_size)
    return attack, seed, data, perturbable(model)


def average_flatness(model, data, attack=None, xi: float = 0.5, draws: int = 10,
                     max_examples: Optional[int] = None, batch_size: int = 100, seed: int = 0) -> Flatness:
    """Average-case (robust) flatness: ``mean_i L(w + nu_i) - L(w)`` with ``nu_i`` uniform on the
    layer-wise spheres of radius ``xi ||w_l||`` (draw ``i`` seeded by ``(seed, 1, i)``), ``L`` the
    robust loss under ``attack`` (rerun on every perturbed model, seeds ``[seed, b]``) or, with
    ``attack=None``, the clean loss. Costs ``draws + 1`` robust-loss evaluations."""
    xi = check_xi(xi)
    draws = check_count(draws, "draws")
    attack, seed, data, entries = _setup(model, data, attack, max_examples, batch_size, seed)
    began = time.perf_counter()
    reference = loss_on(model, data, attack, seed)
    losses = []
    for i in range(draws):
        nu = random_sphere(entries, xi, derive_seed(seed, 1, i))
        with perturbed(model, nu, entries):
            losses.append(loss_on(model, data, attack, seed))
    return _result(reference, losses, np.mean, data, attack, draws + 1, began)


def _result(reference, losses, reduce, data, attack, evaluations, began, joint=None):
    values = tuple(float(l) - reference for l in losses)
    runs = 0 if attack is None else evaluations * len(data)
    joint_value = None if joint is None else max(joint) - reference
    return Flatness(float(reduce(values)), float(reference), tuple(float(l) for l in losses), values,
                    count_examples(data), runs, time.perf_counter() - began,
                    None if joint is None else tuple(joint), joint_value)


# ---- the joint weight (and input) attack ------------------------------------------------------

_STEPS = weakref.WeakKeyDictionary()  # model -> {key: compiled joint step}


def _step_fn(model, entries: List[Perturbable], input_shape, norm: Optional[str]):
    """A compiled step of the joint attack on one batch (``norm`` None: weights only).

    ``(x, x_adv, y, nu, w, radii, weight_scale, eps, step_size) -> (x_adv, nu, loss)``: one
    gradient of the mean cross-entropy at ``(w + nu, x_adv)``; the inputs move by the attack's step
    and are projected onto its ball and [0, 1]; ``nu_l`` moves by ``weight_scale[l] * g_l / ||g_l||``
    and is projected onto ``||nu_l|| <= radii[l]``; the variables are assigned ``w + nu``."""
    key = (tuple(e.name for e in entries), tuple(input_shape), norm)
    fns = _STEPS.setdefault(model, {})
    if key in fns:
        return fns[key]
    ref = weakref.ref(model)
    variables = [e.variable for e in entries]
    var_specs = [tf.TensorSpec(v.shape, v.dtype) for v in variables]
    scalars = tf.TensorSpec([], tf.float32)
    signature = [tf.TensorSpec([None, *input_shape], tf.float32)] * 2 + [tf.TensorSpec([None], tf.int64),
                                                                        var_specs, var_specs,
                                                                        tf.TensorSpec([len(entries)], tf.float32),
                                                                        tf.TensorSpec([len(entries)], tf.float32),
                                                                        scalars, scalars]

    @tf.function(input_signature=signature)
    def step(x, x_adv, y, nu, w, radii, weight_scale, eps, step_size):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            loss = tf.reduce_mean(per_example_loss(ref()(x_adv, training=False), y))
        grads = tape.gradient(loss, [x_adv] + variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        if norm is not None:
            x_adv = project_inputs(x, x_adv + step_size * ascent_direction(grads[0], norm), eps, norm)
        steps = normalize_gradient_tensors(entries, grads[1:], tf.unstack(weight_scale))
        nu = project_deltas(entries, [n + s for n, s in zip(nu, steps)], tf.unstack(radii))
        for v, wi, ni in zip(variables, w, nu):
            v.assign(wi + ni)
        return x_adv, nu, loss

    fns[key] = step
    return step


def input_settings(attack: Attack):
    """``(eps, step_size, norm)`` of a PGD-like attack, the input steps of the joint attack."""
    missing = [f for f in ("eps", "step_size", "norm") if not hasattr(attack, f)]
    if missing or attack.norm not in ("linf", "l2"):
        raise ConfigError(f"attack={attack.label!r} is not allowed for the worst-case robust flatness; attack "
                          "must be a PGD-like attack with eps, step_size and norm linf or l2 (e.g. 'pgd')")
    return float(attack.eps), float(attack.step_size), attack.norm


def _joint_attack(model, entries, data: List[Batch], attack: Optional[Attack], xi: float, steps: int,
                  weight_step: float, seed) -> Tuple[List[tf.Tensor], List[Batch]]:
    """Runs the joint attack from the current weights ``w``; returns ``(nu*, adversarial
    batches)`` and leaves the variables at ``w + nu*`` (callers wrap it in :func:`perturbed`)."""
    w = [tf.convert_to_tensor(e.variable.numpy()) for e in entries]
    norms = tf.stack(layer_norms(entries))
    radii, scales = xi * norms, weight_step * norms
    nu = random_in_ball(entries, xi, derive_seed(seed, 0))
    for v, wi, ni in zip([e.variable for e in entries], w, nu):
        v.assign(wi + ni)
    norm = None
    eps = step_size = 0.0
    x_advs = [x for x, _ in data]
    if attack is not None:
        eps, step_size, norm = input_settings(attack)
        if getattr(attack, "random_start", True):
            x_advs = [project_inputs(x, random_point(x, tf.constant(eps), norm, derive_seed(seed, 1, b)), eps, norm)
                      for b, (x, _) in enumerate(data)]
    fn = _step_fn(model, entries, data[0][0].shape[1:], norm)
    eps, step_size = tf.constant(eps, tf.float32), tf.constant(step_size, tf.float32)
    for _ in range(steps):
        for b, (x, y) in enumerate(data):
            x_advs[b], nu, _ = fn(x, x_advs[b], y, nu, w, radii, scales, eps, step_size)
    return list(nu), [(xa, y) for xa, (_, y) in zip(x_advs, data)]


def worst_case_perturbation(model, data, attack=None, xi: float = 0.003, steps: int = 20,
                            weight_step: float = 0.01, max_examples: Optional[int] = None,
                            batch_size: int = 100, seed: int = 0) -> List[np.ndarray]:
    """``nu*`` of one run of the joint attack (weights only with ``attack=None``), one array per
    perturbable variable: ``||nu*_l|| <= xi ||w_l||``, zero off the masks' support. The weights
    are restored afterwards. See :func:`worst_flatness` for the attack."""
    xi, steps, weight_step = _check_worst(xi, steps, weight_step)
    attack, seed, data, entries = _setup(model, data, attack, max_examples, batch_size, seed)
    zeros = [tf.zeros_like(e.variable) for e in entries]
    with perturbed(model, zeros, entries):
        nu, _ = _joint_attack(model, entries, data, attack, xi, steps, weight_step, derive_seed(seed, 2, 0))
    return [n.numpy() for n in nu]


def _check_worst(xi, steps, weight_step):
    return check_xi(xi), check_count(steps, "steps"), check_positive(weight_step, "weight_step")


def worst_flatness(model, data, attack=None, xi: float = 0.003, steps: int = 20, restarts: int = 10,
                   weight_step: float = 0.01, max_examples: Optional[int] = None, batch_size: int = 100,
                   seed: int = 0) -> Flatness:
    """Worst-case (robust) flatness: ``max_r L(w + nu*_r) - L(w)`` over ``restarts`` runs of the
    joint attack (restart ``r`` seeded by ``(seed, 2, r)``).

    Each run starts at ``nu`` with a uniform direction and a uniform radius in each layer's ball
    and, with an attack, at a random point of its input ball (if it has ``random_start``); then
    ``steps`` times, for each batch in turn: one gradient of the batch's mean cross-entropy at
    ``(w + nu, x + delta)``, ``delta`` += the attack's step (signed for L-inf), projected onto its
    ``eps`` ball and [0, 1]; ``nu_l`` += ``weight_step * ||w_l|| * g_l / ||g_l||``, projected onto
    ``||nu_l|| <= xi ||w_l||``. One ``nu`` serves all examples. ``L(w + nu*)`` is the robust loss of
    the given ``attack`` rerun on the perturbed weights (seeds ``[seed, b]``, as for ``L(w)``) or the
    clean loss; ``joint_losses`` hold ``L(w + nu*, x + delta*)``. The attack must be PGD-like (``eps``,
    ``step_size``, ``norm``)."""
    xi, steps, weight_step = _check_worst(xi, steps, weight_step)
    restarts = check_count(restarts, "restarts")
    attack, seed, data, entries = _setup(model, data, attack, max_examples, batch_size, seed)
    if attack is not None:
        input_settings(attack)
    began = time.perf_counter()
    reference = loss_on(model, data, attack, seed)
    zeros = [tf.zeros_like(e.variable) for e in entries]
    losses, joint = [], []
    for r in range(restarts):
        with perturbed(model, zeros, entries):
            _, adversarial = _joint_attack(model, entries, data, attack, xi, steps, weight_step,
                                           derive_seed(seed, 2, r))
            losses.append(loss_on(model, data, attack, seed))
            if attack is not None:
                joint.append(loss_on(model, adversarial, None, seed))
    return _result(reference, losses, np.max, data, attack, restarts + 1, began,
                   joint if attack is not None else None)
