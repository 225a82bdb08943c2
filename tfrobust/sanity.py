"""Sanity checks of a robustness evaluation: the signs that an attack, or the model, fools it.

:func:`check_evaluation` runs on a few examples (the first ``examples`` of the evaluation) and on
the evaluation's results, and returns a report ``{"examples", "checks": [...], "warnings": [...]}``.
Each check is ``{"check", "attack", "status": "ok" | "warning" | "skipped", "detail"}``; every
warning is also a line of ``warnings``. The checks (after Carlini et al. 2019, "On evaluating
adversarial robustness", and the checks of fra31/auto-attack):

- ``logits``: the model must output logits; rows in [0, 1] summing to 1 are probabilities, which
  flatten the cross-entropy's gradient;
- ``randomness``: two passes over the same inputs must agree, or the model is random at inference
  (evaluate it with AutoAttack's ``version=rand`` and average);
- ``gradients``: the share of examples whose input gradient of the cross-entropy is zero or not
  finite (any is a warning: gradient attacks cannot move them);

and for each attack with a radius ``eps``, rerunning its ``probe()`` (AutoAttack: its first stage)
on the same examples, moved to other radii by ``with_radius`` (PGD scales its step size alike):

- ``zero_radius``: at eps = 0 the accuracy must be the clean accuracy;
- ``monotone``: the accuracy at eps must not be above the accuracy at eps / 2;
- ``single_step``: an iterative gradient attack must be at least as strong as one gradient step
  of length eps (FGSM under L-inf);
- ``large_radius``: at a radius that covers the whole input box (1 under L-inf, sqrt(dimension)
  under L2) the accuracy must fall to chance, 1 / classes, or below;

(a penalty attack, WRM, is checked at zero and half radius only: its penalty, not eps, sets how far
it goes, so neither one gradient step of length eps nor the whole box bounds its accuracy)

and, on the results over the whole evaluation:

- ``square``: the black-box Square attack must not beat the white-box attacks at the same eps
  and norm by more than 0.2 points (within AutoAttack: its Square stage must not lower the
  accuracy by more than 0.2 points).

Comparisons on the check examples allow 1% plus one example, so that the randomness of a
restart does not raise a warning.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping

import numpy as np
import tensorflow as tf

from tfrobust.attacks.base import Attack, per_example_loss
from tfrobust.attacks.pgd import PGD

SQUARE_MARGIN = 0.002 + 1e-9  # the reference's alpha in check_square_sr (one example in 500 is not more)
SINGLE_STEP = ("fgsm",)


def _accuracy(model, x, y) -> float:
    pred = tf.argmax(model(x, training=False), axis=-1, output_type=tf.int64)
    return float(tf.reduce_mean(tf.cast(tf.equal(pred, y), tf.float32)))


class _Report:
    def __init__(self, examples):
        self.examples, self.checks = examples, []

    def add(self, check, attack, ok, detail):
        status = "skipped" if ok is None else "ok" if ok else "warning"
        self.checks.append({"check": check, "attack": attack, "status": status, "detail": detail})

    def as_dict(self):
        warnings = [f"{c['check']}" + (f" ({c['attack']})" if c["attack"] else "") + f": {c['detail']}"
                    for c in self.checks if c["status"] == "warning"]
        return {"examples": self.examples, "checks": self.checks, "warnings": warnings}


def check_evaluation(model, x, y, attacks: Mapping[str, Attack], results: Mapping[str, Dict],
                     num_classes: int, seed: int = 0) -> Dict:
    """The sanity report of an evaluation of ``model`` under ``attacks`` (its ``results``, as
    :func:`tfrobust.evaluation.evaluate` returns them), checked on the examples ``x, y``."""
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(y, tf.int64)
    report = _Report(int(x.shape[0]))
    _check_model(report, model, x, y)
    tol = 0.01 + 1.0 / int(x.shape[0])
    clean = _accuracy(model, x, y)
    for k, (name, attack) in enumerate(attacks.items()):
        if attack.radius is None or not hasattr(attack, "eps"):
            continue
        _check_radii(report, model, x, y, name, attack, clean, tol, num_classes,
                     tf.constant([seed, k], tf.int64))
    _check_square(report, attacks, results)
    return report.as_dict()


def _check_model(report, model, x, y):
    first = model(x, training=False).numpy()
    in_unit = first.min() >= 0 and first.max() <= 1
    probabilities = bool(in_unit and np.allclose(first.sum(axis=-1), 1.0, atol=1e-4))
    report.add("logits", "", not probabilities,
               "the outputs are in [0, 1] and sum to 1: they look like probabilities; attack the "
               "logits (the layer before the softmax)" if probabilities else "the outputs are logits")

    second = model(x, training=False).numpy()
    spread = float(np.max(np.abs(first - second)))
    random = spread > 1e-5 * (1.0 + float(np.max(np.abs(first))))
    report.add("randomness", "", not random,
               f"two passes over the same inputs differ by up to {spread:.3g}: the model is random at "
               "inference; use autoattack:version=rand and average several evaluations" if random
               else "two passes agree")

    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(per_example_loss(model(x, training=False), y))
    grad = tape.gradient(total, x)
    grad = tf.reshape(tf.zeros_like(x) if grad is None else grad, [tf.shape(x)[0], -1]).numpy()
    bad = ~np.isfinite(grad).all(axis=1) | (np.abs(grad).sum(axis=1) == 0)
    share = float(bad.mean())
    report.add("gradients", "", share == 0,
               f"{100 * share:.1f}% of the examples have a zero or non-finite input gradient: gradient "
               "attacks cannot move them (gradient masking, or saturated outputs)" if share
               else "every example has a finite, non-zero input gradient")


def _check_radii(report, model, x, y, name, attack, clean, tol, num_classes, seed):
    probe = attack.probe()
    label = name if probe == attack else f"{name}, probed by {probe.label}"

    def acc_at(eps, salt):
        attack_at = probe if eps == probe.eps else probe.with_radius(eps)
        adv = attack_at(model, x, y, seed=tf.random.experimental.stateless_fold_in(seed, salt))
        return _accuracy(model, adv, y)

    eps = float(attack.eps)
    at_eps, at_zero, at_half = acc_at(eps, 0), acc_at(0.0, 1), acc_at(eps / 2, 2)
    report.add("zero_radius", label, at_zero == clean,
               f"accuracy {100 * at_zero:.1f}% at eps=0, clean {100 * clean:.1f}%")
    report.add("monotone", label, at_eps <= at_half + tol,
               f"accuracy {100 * at_half:.1f}% at eps={eps / 2:g}, {100 * at_eps:.1f}% at eps={eps:g}")
    if getattr(probe, "penalty", False):  # WRM: gamma sets its strength; the ball only bounds it
        detail = "a penalty attack: its strength is set by its penalty, not by eps"
        report.add("single_step", label, None, detail)
        report.add("large_radius", label, None, detail)
        return
    if attack.name in SINGLE_STEP or getattr(attack, "steps", 2) == 1 or probe.name == "square":
        report.add("single_step", label, None, "a single-step or score-based attack")
    else:
        step = PGD(eps=eps, step_size=max(eps, 1e-12), steps=1, norm=probe.norm, random_start=False,
                   keep_best=False)
        single = _accuracy(model, step(model, x, y), y)
        report.add("single_step", label, at_eps <= single + tol,
                   f"accuracy {100 * at_eps:.1f}% under the attack, {100 * single:.1f}% under one "
                   f"gradient step of length eps")
    large = 1.0 if probe.norm == "linf" else math.sqrt(float(np.prod(x.shape[1:])))
    at_large = acc_at(large, 3)
    chance = 1.0 / num_classes
    report.add("large_radius", label, at_large <= chance + tol,
               f"accuracy {100 * at_large:.1f}% at eps={large:g} (chance: {100 * chance:.1f}%)")


def _check_square(report, attacks, results):
    for name, result in results.items():
        stages = result.get("stages") or []
        names = [s["stage"] for s in stages]
        if "square" in names and names.index("square") > 0:
            i = names.index("square")
            drop = stages[i - 1]["accuracy"] - stages[i]["accuracy"]
            report.add("square", name, drop <= SQUARE_MARGIN,
                       f"the square stage lowered the accuracy by {100 * drop:.2f} points after the "
                       "white-box stages" + (": they are being fooled (gradient masking?)"
                                             if drop > SQUARE_MARGIN else ""))
    for name, attack in attacks.items():
        if attack.name != "square":
            continue
        white = [results[n]["accuracy"] for n, a in attacks.items()
                 if a.name not in ("square",) and a.radius is not None and getattr(a, "eps", None) == attack.eps
                 and a.norm == attack.norm and n in results]
        if white:
            beaten = results[name]["accuracy"] < min(white) - SQUARE_MARGIN
            report.add("square", name, not beaten,
                       f"accuracy {100 * results[name]['accuracy']:.2f}% under square, "
                       f"{100 * min(white):.2f}% under the best white-box attack at the same eps")


__all__ = ["check_evaluation"]
