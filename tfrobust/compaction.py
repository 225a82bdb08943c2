"""Attacking only what is still robust.

An example the model already misclassifies needs no attack, and one that a restart broke needs no
more restarts. :func:`attack_compacted` runs a compactable attack (:mod:`tfrobust.attacks.base`)
round by round (PGD: restart by restart) on the examples still classified correctly, gathered into
full batches of ``batch_size``. Each example is attacked with its own seed, so its random starts do
not depend on its batch-mates, and the accuracy is exactly that of attacking every example with
every restart.

What changes is the loss of the examples the attack broke: the full attack goes on to look for a
higher loss, the compacted one keeps the first adversarial point found (and a misclassified input
keeps its clean loss). The examples left robust keep, as in the full attack, their highest-loss
point over all rounds.
"""
from __future__ import annotations

import time
import weakref
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks.base import per_example_loss

_OUTPUTS = weakref.WeakKeyDictionary()  # model -> {input shape: compiled (losses, correct)}


def example_outputs(model, shape):
    """A compiled function ``(x, y) -> (per-example loss, per-example correct)``, one per model and shape."""
    fns = _OUTPUTS.setdefault(model, {})
    key = tuple(shape)
    if key not in fns:
        ref = weakref.ref(model)

        @tf.function(input_signature=[tf.TensorSpec([None, *key], tf.float32), tf.TensorSpec([None], tf.int64)])
        def outputs(x, y):
            logits = ref()(x, training=False)
            return per_example_loss(logits, y), tf.equal(tf.argmax(logits, -1, output_type=tf.int64), y)

        fns[key] = outputs
    return fns[key]


def outputs_in_batches(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> Tuple[np.ndarray, np.ndarray]:
    """(per-example loss, per-example correct) of ``model`` on ``x``, ``batch_size`` at a time."""
    fn = example_outputs(model, x.shape[1:])
    losses, correct = [], []
    for i in range(0, len(x), batch_size):
        loss, ok = fn(x[i:i + batch_size], y[i:i + batch_size])
        losses.append(loss.numpy())
        correct.append(ok.numpy())
    if not losses:
        return np.zeros([0], np.float32), np.zeros([0], bool)
    return np.concatenate(losses), np.concatenate(correct)


def attack_compacted(attack, model, x: np.ndarray, y: np.ndarray, seeds: np.ndarray, loss: np.ndarray,
                     robust: np.ndarray, batch_size: int,
                     progress: Optional[Callable[[str], None]] = None) -> Tuple[np.ndarray, List[Dict]]:
    """``(x_adv, rounds)``: ``attack``'s output for every example of ``x``, attacking in each round
    only the examples still ``robust`` (initially: classified correctly, with clean loss ``loss``).

    ``seeds`` holds each example's [2] seed. ``rounds`` records per round the examples attacked,
    those left robust and the seconds it took.
    """
    x_adv, loss, robust = x.copy(), loss.copy(), robust.copy()
    records = []
    for r in range(attack.rounds()):
        start = time.perf_counter()
        pool = np.flatnonzero(robust)
        for i in range(0, len(pool), batch_size):
            idx = pool[i:i + batch_size]
            adv = attack.run_round(model, x[idx], y[idx], seeds[idx], r).numpy()
            adv_loss, correct = (v.numpy() for v in example_outputs(model, x.shape[1:])(adv, y[idx]))
            take = ~correct | (adv_loss > loss[idx])  # broken, or a higher loss while still robust
            x_adv[idx[take]] = adv[take]
            loss[idx[take]] = adv_loss[take]
            robust[idx[~correct]] = False
        records.append({"round": r, "attacked": int(len(pool)), "robust": int(robust.sum()),
                        "seconds": time.perf_counter() - start})
        if progress:
            progress(f"round {r + 1}: {records[-1]['robust']} of the {len(pool)} examples attacked are still "
                     f"robust ({records[-1]['seconds']:.1f}s)")
        if not robust.any():
            break
    return x_adv, records
