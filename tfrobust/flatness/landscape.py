"""Loss-landscape slices: the (robust) loss along one or two weight directions.

A direction ``d`` has one tensor per perturbable variable, zero off the masks' support, and is
normalised per variable: ``||d_l|| = ||w_l||`` ("layer normalisation"; Li et al. normalise per
filter). Two kinds:

- **random**: ``d_l`` uniform on the sphere of radius ``||w_l||``;
- **adversarial**: the gradient of the loss at ``w`` (of the robust loss: at the attack's outputs
  for ``w``, held fixed), normalised per variable to ``||w_l||``.

At each grid point ``w + alpha d`` (or ``w + alpha d1 + beta d2``) the loss is computed anew, the
robust loss with the attack rerun on the perturbed weights (batch ``b`` seeded ``[seed, b]`` at every
point, so ``alpha = 0`` gives exactly :func:`~tfrobust.flatness.losses.robust_loss`). Random curves
are averaged over ``directions`` draws (direction ``i`` seeded ``(seed, 3, i)``, the second 2-D axis
``(seed, 4, i)``).

Departures from the reference (experiments/visualize.py, common/visualization.py): its
"layer_l2" normalisation actually scales ``d_l`` by ``max|w_l| / max|d_l|`` (an L-inf ratio) times a
factor (0.5 for random, 0.01 for adversarial directions), and its directions are the outcome of a
weight attack (a random draw at ``xi`` = 0.1, or the worst-case attack), over 51 steps in [-1, 1],
with PGD-10 (10 restarts) for the robust loss. Here the scale lives in ``alphas`` and the adversarial
direction is one normalised gradient.
"""
from __future__ import annotations

import weakref
from typing import List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import per_example_loss
from tfrobust.errors import ConfigError
from tfrobust.flatness.losses import (adversarial_batches, as_attack, batches, count_examples, loss_on)
from tfrobust.flatness.perturbation import (check_deltas, check_count, check_seed, derive_seed, layer_norms,
                                            normalize_gradient_tensors, perturbable, perturbed, random_sphere)

DEFAULT_ALPHAS = tuple(round(a, 10) for a in np.linspace(-1.0, 1.0, 21).tolist())  # 0.0 exactly

_GRADS = weakref.WeakKeyDictionary()  # model -> {key: compiled gradient of the summed loss}


def random_direction(model, seed) -> List[tf.Tensor]:
    """A random direction: ``d_l`` uniform on the sphere ``||d_l|| = ||w_l||`` of each variable's
    support (``seed``: an int or a [2] seed tensor)."""
    return random_sphere(perturbable(model), 1.0, seed)


def _grad_fn(model, entries, input_shape):
    key = (tuple(e.name for e in entries), tuple(input_shape))
    fns = _GRADS.setdefault(model, {})
    if key not in fns:
        ref = weakref.ref(model)
        variables = [e.variable for e in entries]

        @tf.function(input_signature=[tf.TensorSpec([None, *input_shape], tf.float32),
                                      tf.TensorSpec([None], tf.int64)])
        def grads(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(per_example_loss(ref()(x, training=False), y))
            return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        fns[key] = grads
    return fns[key]


def adversarial_direction(model, data, attack=None, max_examples: Optional[int] = None, batch_size: int = 100,
                          seed: int = 0) -> List[tf.Tensor]:
    """The adversarial direction: the gradient of the mean (robust) cross-entropy at ``w`` over
    the first ``max_examples`` examples, restricted to the supports and normalised per variable to
    ``||d_l|| = ||w_l||`` (a variable with a zero gradient gets a zero direction)."""
    attack = as_attack(attack)
    data = batches(data, max_examples, batch_size)
    return _adversarial(model, perturbable(model), data, attack, check_seed(seed))


def _adversarial(model, entries, data, attack, seed):
    if attack is not None:
        data = adversarial_batches(model, data, attack, seed)
    fn = _grad_fn(model, entries, data[0][0].shape[1:])
    total = None
    for x, y in data:
        g = fn(x, y)
        total = list(g) if total is None else [t + gi for t, gi in zip(total, g)]
    total = [t / count_examples(data) for t in total]
    return normalize_gradient_tensors(entries, total, layer_norms(entries))


def _grid(values, name) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name}={values!r} is not allowed; {name} must be a non-empty 1-D sequence of "
                          "finite numbers")
    return arr


def _first_direction(model, entries, data, attack, direction, seed, i):
    if isinstance(direction, str):
        if direction == "random":
            return random_sphere(entries, 1.0, derive_seed(seed, 3, i))
        if direction == "adversarial":
            return _adversarial(model, entries, data, attack, seed)
    elif isinstance(direction, (list, tuple)):
        check_deltas(entries, list(direction), "direction")
        return [tf.convert_to_tensor(d, e.variable.dtype) for e, d in zip(entries, direction)]
    raise ConfigError(f"direction={direction!r} is not allowed; direction must be 'random', 'adversarial' "
                      "or a list of tensors, one per perturbable variable")


def _prepare(model, data, attack, direction, directions, max_examples, batch_size, seed, two_d):
    attack = as_attack(attack)
    seed = check_seed(seed)
    directions = check_count(directions, "directions")
    fixed = not (isinstance(direction, str) and direction == "random")
    if fixed and directions > 1 and not two_d:
        raise ConfigError(f"directions={directions} is not allowed with direction={direction!r} (a fixed "
                          "direction); directions must be 1")
    return attack, seed, directions, batches(data, max_examples, batch_size), perturbable(model)


def _loss_at(model, entries, data, attack, seed, parts) -> float:
    """The loss at ``w + sum(c * d)`` for ``parts`` = [(c, d), ...]."""
    deltas = [sum(float(c) * d[i] for c, d in parts) for i in range(len(entries))]
    with perturbed(model, deltas, entries):
        return loss_on(model, data, attack, seed)


def loss_slice_1d(model, data, alphas: Sequence[float] = DEFAULT_ALPHAS, attack=None, direction="random",
                  directions: int = 1, max_examples: Optional[int] = None, batch_size: int = 100,
                  seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``(alphas, losses)``: the loss (robust under ``attack``, clean without) at ``w + alpha d``
    for each alpha, averaged over ``directions`` random directions (``direction='random'``), or
    along the adversarial direction (``'adversarial'``) or a given one (a list of tensors), where
    ``directions`` must be 1. The weights are restored afterwards."""
    alphas = _grid(alphas, "alphas")
    attack, seed, directions, data, entries = _prepare(model, data, attack, direction, directions,
                                                       max_examples, batch_size, seed, two_d=False)
    losses = np.zeros((directions, alphas.size))
    for i in range(directions):
        d = _first_direction(model, entries, data, attack, direction, seed, i)
        for j, a in enumerate(alphas):
            losses[i, j] = _loss_at(model, entries, data, attack, seed, [(a, d)])
    return alphas, losses.mean(axis=0)


def loss_slice_2d(model, data, alphas: Sequence[float] = DEFAULT_ALPHAS, betas: Optional[Sequence[float]] = None,
                  attack=None, direction="random", directions: int = 1, max_examples: Optional[int] = None,
                  batch_size: int = 100, seed: int = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(alphas, betas, losses)`` with ``losses[i, j]`` the loss at ``w + alphas[i] d1 + betas[j]
    d2`` (``betas``: ``alphas`` if None): ``d1`` random, adversarial or given (``direction``), ``d2``
    random; averaged over ``directions`` draws. The weights are restored afterwards."""
    alphas = _grid(alphas, "alphas")
    betas = alphas if betas is None else _grid(betas, "betas")
    attack, seed, directions, data, entries = _prepare(model, data, attack, direction, directions,
                                                       max_examples, batch_size, seed, two_d=True)
    losses = np.zeros((directions, alphas.size, betas.size))
    d1 = None
    for i in range(directions):
        if d1 is None or direction == "random":
            d1 = _first_direction(model, entries, data, attack, direction, seed, i)
        d2 = random_sphere(entries, 1.0, derive_seed(seed, 4, i))
        for j, a in enumerate(alphas):
            for k, b in enumerate(betas):
                losses[i, j, k] = _loss_at(model, entries, data, attack, seed, [(a, d1), (b, d2)])
    return alphas, betas, losses.mean(axis=0)
