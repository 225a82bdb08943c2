"""The examples a flatness measure sees, and the clean and robust loss on them.

Every measure first takes a fixed set of examples (:func:`batches`): the first ``max_examples`` of
the data, held in memory and cut into batches of ``batch_size``, so that every perturbed model is
scored on exactly the same examples even when the dataset shuffles. The robust loss ``RLoss(w)`` is
the mean cross-entropy on the attack's outputs; example ``i`` (PGD and other compactable attacks) or
batch ``b`` (other attacks) is attacked with the seed ``[seed, i]`` or ``[seed, b]`` (what
:func:`tfrobust.evaluation.evaluate` does with ``seed`` and ``compact=False``), so the same seed
gives the same number, and a perturbed model is attacked with the same random starts as the
unperturbed one.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack, from_spec
from tfrobust.errors import ConfigError
from tfrobust.attacks.example_random import example_seeds
from tfrobust.evaluation import batch_sums
from tfrobust.flatness.perturbation import check_count, check_seed

Batch = Tuple[tf.Tensor, tf.Tensor]



def batches(data, max_examples: Optional[int] = None, batch_size: int = 100) -> List[Batch]:
    """The first ``max_examples`` examples of ``data`` (all if ``None``) as a list of ``(x, y)``
    batches of ``batch_size`` (float32 inputs, int64 labels).

    ``data`` is a batched ``tf.data.Dataset`` of ``(x, y)`` (as :func:`tfrobust.evaluation.evaluate`
    takes; an infinite one needs ``max_examples``), a pair ``(x, y)`` of arrays, or a list of
    batches as returned here (then only re-cut)."""
    if max_examples is not None:
        check_count(max_examples, "max_examples")
    check_count(batch_size, "batch_size")
    if isinstance(data, tf.data.Dataset):
        if max_examples is None and int(data.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
            raise ConfigError("max_examples=None is not allowed for an infinite dataset; "
                              "max_examples must be an integer >= 1")
        xs, ys, seen = [], [], 0
        for element in data:
            if not isinstance(element, (tuple, list)) or len(element) != 2:
                raise ConfigError("data yields something other than (x, y) pairs; data must be a batched "
                                  "dataset of (x, y), a pair of arrays, or a list of (x, y) batches")
            x, y = element
            if max_examples is not None:
                x, y = x[: max_examples - seen], y[: max_examples - seen]
            xs.append(x)
            ys.append(y)
            seen += int(x.shape[0])
            if max_examples is not None and seen >= max_examples:
                break
        x = tf.concat(xs, 0) if xs else None
        y = tf.concat(ys, 0) if ys else None
    elif isinstance(data, list) and data and all(isinstance(b, tuple) and len(b) == 2 for b in data):
        x = tf.concat([b[0] for b in data], 0)
        y = tf.concat([b[1] for b in data], 0)
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = data
    else:
        raise ConfigError(f"data={type(data).__name__} is not allowed; data must be a batched dataset of "
                          "(x, y), a pair (x, y) of arrays, or a list of (x, y) batches")
    if x is None or int(np.shape(x)[0]) == 0:
        raise ConfigError("data holds no examples; data must hold at least one (x, y) example")
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(tf.convert_to_tensor(y), tf.int64)
    if int(y.shape[0]) != int(x.shape[0]) or y.shape.rank != 1:
        raise ConfigError(f"data has {int(x.shape[0])} inputs and labels of shape {tuple(y.shape)}; "
                          "data must have one integer label per input")
    if max_examples is not None:
        x, y = x[:max_examples], y[:max_examples]
    n = int(x.shape[0])
    return [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, n, batch_size)]


def count_examples(data: List[Batch]) -> int:
    return sum(int(x.shape[0]) for x, _ in data)


def as_attack(attack) -> Optional[Attack]:
    """``None`` (the clean loss), an :class:`~tfrobust.attacks.Attack`, or a spec string."""
    if attack is None or isinstance(attack, Attack):
        return attack
    if isinstance(attack, str):
        return from_spec(attack, flag=None)
    raise ConfigError(f"attack={attack!r} is not allowed; attack must be None (clean loss), an Attack or "
                      "an attack spec such as 'pgd:eps=0.1,steps=20'")


def attack_seed(attack: Attack, seed: int, batch: int, first: int, size: int) -> tf.Tensor:
    """The seed of batch ``batch`` (its examples ``first``, ..., ``first + size - 1``): per example
    for a compactable attack, else one for the batch."""
    if attack.compactable:
        return example_seeds(seed, first, size)
    return tf.constant([seed, batch], tf.int64)


def adversarial_batches(model, data: List[Batch], attack: Attack, seed: int) -> List[Batch]:
    """``(attack(x), y)`` per batch, seeded by :func:`attack_seed`."""
    out, first = [], 0
    for b, (x, y) in enumerate(data):
        size = int(x.shape[0])
        out.append((attack(model, x, y, seed=attack_seed(attack, seed, b, first, size)), y))
        first += size
    return out


def mean_loss(model, data: List[Batch]) -> float:
    """Mean cross-entropy of ``model`` over the batches (no attack)."""
    sums = batch_sums(model, data[0][0].shape[1:])  # evaluation's compiled (loss sum, correct) per batch
    total = sum(float(sums(x, y)[0]) for x, y in data)
    return total / count_examples(data)


def loss_on(model, data: List[Batch], attack: Optional[Attack], seed: int) -> float:
    """The clean loss (``attack`` None) or the robust loss on the prepared batches."""
    if attack is None:
        return mean_loss(model, data)
    return mean_loss(model, adversarial_batches(model, data, attack, seed))


def clean_loss(model, data, max_examples: Optional[int] = None, batch_size: int = 100) -> float:
    """Mean cross-entropy of ``model`` on the first ``max_examples`` examples of ``data``."""
    return mean_loss(model, batches(data, max_examples, batch_size))


def robust_loss(model, data, attack, max_examples: Optional[int] = None, batch_size: int = 100,
                seed: int = 0) -> float:
    """``RLoss(w)``: mean cross-entropy on ``attack``'s outputs for the first ``max_examples``
    examples of ``data``; batch ``b`` attacked with the seed ``[seed, b]``. ``attack`` is an
    :class:`~tfrobust.attacks.Attack` or a spec (``'pgd:eps=0.1,steps=20'``)."""
    attack = as_attack(attack)
    if attack is None:
        raise ConfigError("attack=None is not allowed for the robust loss; attack must be an Attack or a "
                          "spec (use clean_loss for the clean loss)")
    seed = check_seed(seed)
    return loss_on(model, batches(data, max_examples, batch_size), attack, seed)
