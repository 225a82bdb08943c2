"""AutoAttack (Croce & Hein 2020): a fixed ensemble of attacks, each run on the examples still robust.

Versions, as in fra31/auto-attack (``set_version``), all with the ensemble's ``eps``, ``norm`` and
``seed``:

- ``standard``: apgd-ce (no restarts), apgd-t (9 target classes), fab-t (9 target classes), square
  (5000 queries);
- ``plus``: apgd-ce and apgd-dlr (5 restarts each), fab (5 restarts), square (5000 queries),
  apgd-t (9 target classes), fab-t (9 target classes);
- ``rand``: apgd-ce and apgd-dlr with the gradient averaged over 20 passes (``eot_iter=20``), for
  models that are random at inference;
- ``custom``: the stages listed in ``attacks`` (``+``-separated, e.g. ``apgd-ce+square``), each
  with its ``plus`` settings, as the reference's attacks are before a version is set.

``steps`` (100) and ``queries`` (5000) are the stages' iterations (APGD, FAB) and Square's
queries, as the reference's ``n_iter`` and ``n_queries``: fewer make a quicker, weaker evaluation.

Every stage starts from the clean input and runs only on the examples that every earlier stage
left correctly classified; an example takes the first adversarial point found. So accuracy under
the ensemble is never above accuracy after any one of its stages. ``attack(model, x, y)`` runs the
whole ensemble in one graph per batch; :meth:`AutoAttack.run_stages` runs one graph per stage and
records, per stage, the examples left robust, the time and the passes (what ``evaluate`` reports).
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Dict, List, Tuple

import tensorflow as tf

from tfrobust.attacks.apgd import APGD, APGDTargeted
from tfrobust.attacks.base import NO_PASSES, Attack, CountingAttack, count, predicted_labels
from tfrobust.attacks.rows import batch_mask, on_rows
from tfrobust.errors import ConfigError

log = logging.getLogger("tfrobust")

NORMS = ("linf", "l2")
VERSIONS = ("standard", "plus", "rand", "custom")
STAGES = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
_VERSION_STAGES = {
    "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
    "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
    "rand": ("apgd-ce", "apgd-dlr"),
}


def stage_attack(stage: str, version: str, eps: float, norm: str, seed: int, steps: int = 100,
                 queries: int = 5000) -> Attack:
    """The attack that runs ``stage`` in ``version`` (``custom`` takes the ``plus`` settings), with
    ``steps`` iterations (APGD, FAB) or ``queries`` (Square)."""
    common = dict(eps=eps, norm=norm, seed=seed)
    restarts = 1 if version in ("standard", "rand") else 5
    eot_iter = 20 if version == "rand" else 1
    if stage in ("apgd-ce", "apgd-dlr"):
        return APGD(loss=stage[5:], steps=steps, restarts=restarts, eot_iter=eot_iter, **common)
    if stage == "apgd-t":
        return APGDTargeted(target_classes=9, steps=steps, restarts=1, **common)
    from tfrobust.attacks.fab import FAB, FABTargeted  # imported here: fab and square import base
    from tfrobust.attacks.square import Square

    if stage == "fab":
        return FAB(steps=steps, restarts=restarts, **common)
    if stage == "fab-t":
        return FABTargeted(target_classes=9, steps=steps, restarts=1, **common)
    return Square(queries=queries, p_init=0.8, **common)


@dataclasses.dataclass(frozen=True)
class AutoAttack(CountingAttack):
    name = "autoattack"
    costly = True  # a training run evaluates it only at its end

    eps: float = 0.3
    norm: str = "linf"
    version: str = "standard"
    attacks: str = ""
    steps: int = 100  # of APGD and FAB (the reference's n_iter)
    queries: int = 5000  # of Square (the reference's n_queries)

    def validate(self):
        super().validate()
        self._check_number("eps", strict=True)
        self._check_count("steps")
        self._check_count("queries")
        self._check_norm(NORMS)
        self._check(isinstance(self.version, str) and self.version in VERSIONS, "version",
                    f"one of {', '.join(VERSIONS)}")
        if self.targeted:
            raise ConfigError(f"attack {self.name!r}: targeted=true is not supported; its targeted "
                              "stages pick their target classes from the logits")
        names = [s for s in self.attacks.split("+") if s] if isinstance(self.attacks, str) else None
        if self.version == "custom":
            self._check(bool(names) and all(s in STAGES for s in names) and len(set(names)) == len(names),
                        "attacks", f"a '+'-separated list of distinct stages from {', '.join(STAGES)}")
        else:
            self._check(self.attacks == "", "attacks",
                        f"empty unless version=custom (version={self.version} fixes its stages)")

    @property
    def radius(self):
        return self.eps

    @property
    def stage_names(self) -> Tuple[str, ...]:
        if self.version == "custom":
            return tuple(self.attacks.split("+"))
        return _VERSION_STAGES[self.version]

    def stages(self) -> List[Tuple[str, Attack]]:
        """``[(stage name, attack)]`` in the order they run; built once, so that each stage keeps its
        compiled graphs."""
        if "_stages" not in self.__dict__:
            object.__setattr__(self, "_stages", [
                (s, stage_attack(s, self.version, self.eps, self.norm, self.seed, self.steps, self.queries))
                for s in self.stage_names])
        return self._stages

    def check_classes(self, num_classes):
        for stage, attack in self.stages():
            try:
                attack.check_classes(num_classes)
            except ConfigError as e:
                raise ConfigError(f"attack {self.name!r}, stage {stage}: {e}") from None

    def check_input(self, input_shape):
        for stage, attack in self.stages():
            try:
                attack.check_input(input_shape)
            except ConfigError as e:
                raise ConfigError(f"attack {self.name!r}, stage {stage}: {e}") from None

    def probe(self) -> Attack:
        """The cheaper attack that the sanity checks rerun at other radii: the first stage."""
        return self.stages()[0][1]

    # ---- one graph for the whole ensemble ----------------------------------------------------
    def perturb_counted(self, model, x, y, seed):
        y = self.labels(model, x, y)
        x_out, passes = x, tf.constant(NO_PASSES, tf.int64) + count(x, 1, 0)
        robust = tf.equal(predicted_labels(model, x), y)
        for k, (_, attack) in enumerate(self.stages()):
            stage = functools.partial(_stage, functools.partial(attack.perturb_counted, model), _stage_seed(seed, k),
                                      model)
            (x_out, robust), passes = on_rows(robust, stage, (x_out, robust), (x, y), passes)
        return x_out, passes

    # ---- one graph per stage, with a record of each --------------------------------------------
    def run_stages(self, model, x, y=None, seed=None) -> Tuple[tf.Tensor, List[Dict]]:
        """``(x_adv, records)``: the same result as ``attack(model, x, y, seed)``, and per stage a
        record ``{"stage", "attacked", "robust", "seconds", "forward", "backward"}`` (``robust``:
        examples still classified correctly after it; passes include the check of its outputs)."""
        x = tf.convert_to_tensor(x, tf.float32)
        y = predicted_labels(model, x) if y is None or self.predicted_labels else tf.cast(y, tf.int64)
        if seed is None:
            seed = tf.constant([self.seed, self._calls], dtype=tf.int64)
            object.__setattr__(self, "_calls", self._calls + 1)
        seed = tf.cast(seed, tf.int64)
        robust = tf.equal(predicted_labels(model, x), y)
        x_out, records = x, []
        for k, (stage, attack) in enumerate(self.stages()):
            start, attacked = time.perf_counter(), int(tf.reduce_sum(tf.cast(robust, tf.int32)))
            run = functools.partial(_stage, functools.partial(attack.run, model), _stage_seed(seed, k), model)
            (x_out, robust), passes = on_rows(robust, run, (x_out, robust), (x, y), tf.zeros([2], tf.int64))
            forward, backward = (int(v) for v in passes.numpy())
            records.append({"stage": stage, "attacked": attacked,
                            "robust": int(tf.reduce_sum(tf.cast(robust, tf.int32))),
                            "seconds": time.perf_counter() - start, "forward": forward, "backward": backward})
            log.debug("%s %s: %d of %d attacked examples still robust (%.1fs)", self.label, stage,
                      records[-1]["robust"], records[-1]["attacked"], records[-1]["seconds"])
        return x_out, records


def _stage(run, seed, model, rows, context):
    """A stage on the examples still robust: ``run(x, y, seed) -> (x_adv, passes)`` is its attack
    (compiled in its own graph, or traced into the caller's). Returns ``((x_out, robust), passes)``
    of those rows: an example takes the stage's point where it is misclassified there, and keeps
    its input elsewhere."""
    xs, ys = context
    adv, passes = run(xs, ys, seed)
    fooled = tf.not_equal(predicted_labels(model, adv), ys)
    return (tf.where(batch_mask(fooled, adv), adv, xs), ~fooled), passes + count(adv, 1, 0)


def _stage_seed(seed, k):
    return tf.random.experimental.stateless_fold_in(seed, k)

