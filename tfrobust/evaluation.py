"""Accuracy and loss of a model, naturally and under attacks, over a whole dataset."""
from __future__ import annotations

import logging
import math
import time
import weakref
from typing import Dict, Iterable, List, Mapping, Optional, Union

import numpy as np
import tensorflow as tf

from tfrobust.attacks import Attack, from_spec
from tfrobust.attacks.example_random import example_seeds
from tfrobust.compaction import attack_compacted, example_outputs, outputs_in_batches
from tfrobust.errors import TfrobustError

log = logging.getLogger("tfrobust")

_SUMS = weakref.WeakKeyDictionary()  # model -> {input shape: compiled (loss sum, correct count)}


def batch_sums(model, shape):
    """A compiled function ``(x, y) -> (sum of losses, number correct)``, one per model and shape."""
    fns = _SUMS.setdefault(model, {})
    key = tuple(shape)
    if key not in fns:
        outputs = example_outputs(model, key)

        @tf.function(input_signature=[tf.TensorSpec([None, *key], tf.float32), tf.TensorSpec([None], tf.int64)])
        def sums(x, y):
            loss, correct = outputs(x, y)
            return tf.reduce_sum(loss), tf.reduce_sum(tf.cast(correct, tf.float32))

        fns[key] = sums
    return fns[key]


AttackSet = Union[Mapping[str, Attack], Iterable[Union[Attack, str]]]


def _as_named(attacks: Optional[AttackSet]) -> Dict[str, Attack]:
    if attacks is None:
        return {}
    if isinstance(attacks, Mapping):
        return dict(attacks)
    named = {}
    for a in attacks:
        a = from_spec(a) if isinstance(a, str) else a
        named[a.label] = a
    return named


class EvaluationResults(dict):
    """``{name: {"accuracy", "loss", "examples", ...}}`` with the sanity report as ``.checks``
    (``None`` when the checks were off)."""

    checks: Optional[Dict] = None


WINDOW = 20_000  # examples gathered at a time: compaction refills batches within a window


def evaluate(
    model,
    dataset: tf.data.Dataset,
    attacks: Optional[AttackSet] = None,
    max_examples: Optional[int] = None,
    log_every: int = 0,
    seed: Optional[int] = None,
    checks: bool = True,
    check_examples: int = 100,
    timing: bool = True,
    batch_size: Optional[int] = None,
    compact: bool = True,
) -> EvaluationResults:
    """Natural accuracy and mean loss, and the same under each attack.

    ``dataset`` yields ``(x, y)`` batches with ``x`` in [0, 1]; ``attacks`` is a mapping from
    names to attacks, or a list of attacks or spec strings (named by their label). Returns
    ``{"natural": {"accuracy", "loss", "examples"}, name: {...}, ...}``; an attack's entry also
    has its ``attack`` settings and ``seconds``, ``forward`` and ``backward`` (single-example
    passes) where it counts them, and AutoAttack's has ``stages``: per stage the accuracy after it,
    its seconds and passes. Every attack sees the same examples, ``batch_size`` at a time (default:
    the dataset's batch size), in windows of up to :data:`WINDOW` examples. ``log_every`` > 0 logs
    progress after each window, AutoAttack's stages after each batch and compaction's rounds as
    they finish.

    Compactable attacks (PGD) attack example ``i`` with the seed ``(seed, i)``, so their results
    do not depend on the batch size; with ``compact`` they attack only the examples still
    classified correctly, round by round, in full batches (:mod:`tfrobust.compaction`): the same
    accuracy, less work, and an entry ``rounds`` with, per round, the examples attacked and the
    accuracy after it. The loss of the examples it broke is that of the first adversarial point
    found, not the highest the full attack finds. Other
    attacks attack batch ``i`` with the seed ``(seed, i)``. Without ``seed``, compactable attacks
    take ``(attack.seed, i)`` (the same starts at every call) and the others draw their own seeds.

    With ``checks`` (and at least one attack), ``.checks`` of the result holds the sanity report
    of :func:`tfrobust.sanity.check_evaluation`, made on the first ``check_examples`` examples.
    ``timing=False`` leaves out the seconds, so that equal runs give equal results.
    """
    named = _as_named(attacks)
    if "natural" in named:
        raise TfrobustError("'natural' is reserved for the clean evaluation; rename that attack")

    sums = {name: [0.0, 0.0] for name in ["natural", *named]}
    costs = {name: {"seconds": 0.0, "forward": 0, "backward": 0} for name in named}
    stages: Dict[str, List[Dict]] = {}
    rounds: Dict[str, List[Dict]] = {}
    check_batch, seen, batches, start = None, 0, 0, time.time()
    for x, y, batch in _windows(dataset, max_examples, batch_size):
        if check_batch is None:
            check_batch = (tf.constant(x[:check_examples]), tf.constant(y[:check_examples]))
        shape = x.shape[1:]
        clean_loss, clean_correct = outputs_in_batches(model, x, y, batch)
        inputs = {}
        for name, attack in named.items():
            began = time.perf_counter()
            if attack.compactable:
                seeds = example_seeds(attack.seed if seed is None else seed, seen, len(x)).numpy()
                if compact:
                    say = (lambda text, name=name: log.info("%s: %s", name, text)) if log_every else None
                    inputs[name], records = attack_compacted(attack, model, x, y, seeds, clean_loss, clean_correct,
                                                             batch, say)
                    _add_rounds(rounds.setdefault(name, []), records)
                else:
                    inputs[name] = np.concatenate([attack(model, x[i:i + batch], y[i:i + batch], seed=seeds[i:i + batch])
                                                   .numpy() for i in range(0, len(x), batch)])
            else:
                inputs[name] = np.concatenate([
                    _attack_batch(attack, model, tf.constant(x[i:i + batch]), tf.constant(y[i:i + batch]),
                                  None if seed is None else tf.constant([seed, batches + i // batch], tf.int64),
                                  costs[name], stages, name, log_every and f"batch {batches + i // batch + 1}")
                    .numpy() for i in range(0, len(x), batch)])
            costs[name]["seconds"] += time.perf_counter() - began
        sums_of = batch_sums(model, shape)
        sums["natural"][0] += float(clean_loss.astype(np.float64).sum())
        sums["natural"][1] += float(clean_correct.sum())
        for name, xs in inputs.items():
            for i in range(0, len(x), batch):
                loss, correct = sums_of(xs[i:i + batch], y[i:i + batch])
                sums[name][0] += float(loss)
                sums[name][1] += float(correct)
        seen += len(x)
        batches += -(-len(x) // batch)
        if log_every:
            acc = {n: s[1] / seen for n, s in sums.items()}
            log.info("evaluated %d examples (%.1fs): %s", seen, time.time() - start,
                     ", ".join(f"{n} {a:.4f}" for n, a in acc.items()))
    if seen == 0:
        raise TfrobustError("the evaluation dataset is empty")
    results = EvaluationResults()
    for name, (loss, correct) in sums.items():
        if not math.isfinite(loss):
            raise TfrobustError(
                f"the {name} loss is {loss}: the model produced non-finite outputs "
                "(check the weights for NaN or the inputs for values outside [0, 1])"
            )
        results[name] = {"accuracy": correct / seen, "loss": loss / seen, "examples": seen}
        if name in named:
            results[name]["attack"] = named[name].settings()
            if timing:
                results[name]["seconds"] = costs[name]["seconds"]
            if named[name].counts_passes:
                results[name].update(forward=costs[name]["forward"], backward=costs[name]["backward"])
        if name in stages:
            results[name]["stages"] = [
                {"stage": s["stage"], "accuracy": s["robust"] / seen, "forward": s["forward"],
                 "backward": s["backward"], **({"seconds": s["seconds"]} if timing else {})}
                for s in stages[name]]
        if name in rounds:
            results[name]["rounds"] = [
                {"round": r["round"], "attacked": r["attacked"], "accuracy": r["robust"] / seen,
                 **({"seconds": r["seconds"]} if timing else {})} for r in rounds[name]]
    if checks and named:
        from tfrobust.sanity import check_evaluation

        results.checks = check_evaluation(model, *check_batch, named, results,
                                          num_classes=int(model.output_shape[-1]),
                                          seed=0 if seed is None else seed)
    return results


def _windows(dataset, max_examples, batch_size):
    """``(x, y, batch)`` numpy windows of the dataset (at most :data:`WINDOW` examples, a multiple of
    the batch size), cut at ``max_examples``; ``batch``: ``batch_size`` or the dataset's own."""
    xs, ys, held, seen = [], [], 0, 0
    for x, y in dataset:
        if max_examples is not None:
            if seen >= max_examples:
                break
            x, y = x[: max_examples - seen], y[: max_examples - seen]
        if batch_size is None:
            batch_size = max(int(x.shape[0]), 1)
        window = max(WINDOW // batch_size, 1) * batch_size
        xs.append(np.asarray(x, np.float32))
        ys.append(np.asarray(y, np.int64))
        held += len(xs[-1])
        seen += len(xs[-1])
        while held >= window:
            x_all, y_all = np.concatenate(xs), np.concatenate(ys)
            yield x_all[:window], y_all[:window], batch_size
            xs, ys, held = [x_all[window:]], [y_all[window:]], held - window
    if held:
        yield np.concatenate(xs), np.concatenate(ys), batch_size


def _add_rounds(totals: List[Dict], records: List[Dict]) -> None:
    """Adds a window's compaction rounds to the evaluation's."""
    for record in records:
        if record["round"] < len(totals):
            for key in ("attacked", "robust", "seconds"):
                totals[record["round"]][key] += record[key]
        else:
            totals.append(dict(record))


def _attack_batch(attack, model, x, y, seed, cost, stages, name, progress):
    """The attack's output on one batch; adds its passes to ``cost`` and its stage records (if it
    has stages) to ``stages[name]``."""
    if hasattr(attack, "run_stages"):
        x_adv, records = attack.run_stages(model, x, y, seed=seed)
        totals = stages.setdefault(name, [dict(r, robust=0, seconds=0.0, forward=0, backward=0) for r in records])
        for total, record in zip(totals, records):
            for key in ("robust", "seconds", "forward", "backward"):
                total[key] += record[key]
            cost["forward"] += record["forward"]
            cost["backward"] += record["backward"]
            if progress:
                log.info("%s, %s, %s: %d of the %d examples attacked are still robust (%.1fs)", name,
                         progress, record["stage"], record["robust"], record["attacked"], record["seconds"])
        return x_adv
    if attack.counts_passes:
        x_adv, passes = attack.run(model, x, y, seed=seed)
        forward, backward = (int(v) for v in passes.numpy())
        cost["forward"] += forward
        cost["backward"] += backward
        return x_adv
    return attack(model, x, y, seed=seed)
