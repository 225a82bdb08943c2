"""Hooks act at fixed points of training; the trainer only loops and calls them.

A hook overrides what it needs; each method receives the trainer (``setup``, ``model``,
``optimizer``, ``run_dir``, ``logs``) and the iteration:

- ``state(trainer)``: named trackables (``tf.Variable``s, ...) saved in and restored from the
  checkpoint with the model, so that a resumed run is exact (ADMM's Z, U and ρ; counters);
- ``before_train(trainer, start_step)``: after build and restore, before the first step;
- ``after_step(trainer, step)``: after optimizer step ``step`` (1-based); ``trainer.logs`` holds
  the step's loss and the objective's metrics;
- ``after_eval(trainer, step, record)``: at each evaluation point, in order; ``record`` starts as
  ``{step, train_loss, learning_rate}`` and the standard :class:`Evaluation` fills it;
- ``after_train(trainer)``: after the last step, before results.json is written;
- ``results(trainer)``: entries the hook adds to the results record (results.json).

The standard hooks run in this order around the user's: :class:`Divergence`, :class:`Evaluation`,
:class:`TensorBoard`, :class:`Progress`, the user's hooks, :class:`Checkpointing` (which writes
the metrics line and then the checkpoint). The trainer takes a replacement for any of them but
Progress. The config's options add hooks around :class:`Evaluation`, so that all of them see the
evaluated weights: ``--weight_average`` puts :class:`~tfrobust.training.averaging.UseAverage`
before it and :class:`~tfrobust.training.averaging.UseRaw` after the others;
``--early_stopping`` and ``--snapshots`` put
:class:`~tfrobust.training.early_stopping.EarlyStopping` and
:class:`~tfrobust.training.snapshots.Snapshots` right after it:

    Divergence, [UseAverage], Evaluation, [EarlyStopping], [Snapshots], [UseRaw], TensorBoard,
    Progress, the user's hooks, Checkpointing
"""
from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Callable, Dict, Optional

import tensorflow as tf

from tfrobust.errors import TfrobustError
from tfrobust.evaluation import evaluate
from tfrobust.hparams import write_summary
from tfrobust.layers import count_weights, set_masks
from tfrobust.training.optim import learning_rate_at


class Hook:
    def state(self, trainer) -> Dict[str, object]:
        """Trackables to save in the checkpoint, by a name unique among the trainer's hooks."""
        return {}

    def before_train(self, trainer, start_step: int) -> None:
        """After the model is built (and restored, when resuming), before the first step."""

    def after_step(self, trainer, step: int) -> None:
        """After optimizer step ``step`` (1-based)."""

    def after_eval(self, trainer, step: int, record: dict) -> None:
        """At the evaluation point ``step``, in hook order; the checkpoint is saved last."""

    def after_train(self, trainer) -> None:
        """After the last step, before results.json is written."""

    def results(self, trainer) -> Dict[str, object]:
        """Entries to add to the results record (JSON values), after ``after_train``."""
        return {}


class Divergence(Hook):
    """Stops a run whose training loss is not finite, or exceeds ``factor`` times the larger of 1
    and its first value in this process (the first step, or the first after a resume): a
    :class:`~tfrobust.errors.TfrobustError` that names the iteration, before any result is written."""

    def __init__(self, factor: float = 1e3):
        self.factor = factor

    def before_train(self, trainer, start_step):
        self.limit = None

    def after_step(self, trainer, step):
        loss = trainer.logs["loss"]
        if not math.isfinite(loss):
            raise TfrobustError(f"the training loss became {'NaN' if loss != loss else loss} at iteration "
                                f"{step}; lower --learning_rate or check the data")
        if self.limit is None:
            self.limit = self.factor * max(loss, 1.0)
        elif loss > self.limit:
            raise TfrobustError(f"the training loss diverged: {loss:.4g} at iteration {step}, more than "
                                f"{self.factor:g} times its start; lower --learning_rate")


class Evaluation(Hook):
    """Accuracy and loss on validation and test, naturally and under the setup's evaluation
    attacks (or ``attacks``); the remaining weights of each layer. At evaluation point ``step``,
    example ``i`` (PGD) or batch ``i`` (other attacks) is attacked with seed
    ``((seed * 1_000_003 + step) mod 2**63, i)`` (an int64 for every seed; the same number wherever
    it fits without the modulo); ``compact_eval`` attacks only what is still robust.

    Costly attacks (``attack.costly``: AutoAttack) run only at the last evaluation point, on the
    first ``costly_eval_examples`` examples where that is set (their entries say how many). The
    last point also stores the sanity report of the test evaluation (:mod:`tfrobust.sanity`) as
    ``record["checks"]``."""

    def __init__(self, attacks=None, splits=("valid", "test")):
        self.attacks, self.splits = attacks, splits

    def after_eval(self, trainer, step, record):
        setup = trainer.setup
        c = setup.config
        last = step == c.train_iters
        record["weights"] = count_weights(trainer.model)
        attacks = setup.eval_attacks if self.attacks is None else self.attacks
        costly = {name: a for name, a in attacks.items() if a.costly} if last else {}
        apart = costly if c.costly_eval_examples else {}  # evaluated on fewer examples
        attacks = {name: a for name, a in attacks.items() if not a.costly or (name in costly and name not in apart)}
        for split in self.splits:
            dataset = getattr(setup.splits, split)
            if dataset is not None:
                checks = last and split == "test"
                kwargs = dict(seed=(c.seed * 1_000_003 + step) % 2 ** 63, checks=checks, timing=False,
                              compact=c.compact_eval)
                record[split] = evaluate(trainer.model, dataset, attacks, max_examples=c.eval_examples or None,
                                         **kwargs)
                report = record[split].checks
                if apart:
                    extra = evaluate(trainer.model, dataset, apart, max_examples=c.costly_eval_examples, **kwargs)
                    record[split].update({name: extra[name] for name in apart})
                    report = _merged(report, extra.checks) if checks else None
                if checks:
                    record["checks"] = report


def _merged(report, extra):
    """Two sanity reports as one: the first's model checks and both reports' attack checks."""
    if report is None:
        return extra
    attack_checks = [check for check in extra["checks"] if check["attack"]]
    warnings = [w for w, check in zip(extra["warnings"], [c for c in extra["checks"] if c["status"] == "warning"])
                if check["attack"]]
    return {"examples": report["examples"], "checks": report["checks"] + attack_checks,
            "warnings": report["warnings"] + warnings}


class TensorBoard(Hook):
    """Training loss, learning rate and the objective's metrics every ``trainer.log_every`` steps;
    accuracies, losses and sparsity at each evaluation point; the HParams summary: the settings
    before the first step (so that a run shows in the table while it trains), the final metrics at
    the end. Events go to the run's ``tb/``.

    Evaluation tags use the short names of :mod:`tfrobust.tags` (``valid/pgd10/accuracy``); the
    full specs are in the run's config. The HParams summary (:mod:`tfrobust.hparams`) holds the
    config's fields, the run id and ``trainer.hparams`` (what places the run in a study: a lottery
    round, an ADMM stage), and as metrics the final ``final/<split>/<tag>/accuracy`` and
    ``final/weights_kept``."""

    def before_train(self, trainer, start_step):
        path = trainer.run_dir.tb_dir if trainer.setup.chief else tempfile.mkdtemp(prefix="tfrobust-tb-")
        self.writer = tf.summary.create_file_writer(path)
        self.final = None
        write_summary(self.writer, {**trainer.config.to_dict(), "run_id": trainer.run_dir.id, **trainer.hparams}, {})

    def after_step(self, trainer, step):
        if step % trainer.log_every and step != trainer.setup.config.train_iters:
            return
        with self.writer.as_default(step=step):
            for name, value in trainer.logs.items():
                tf.summary.scalar(f"train/{name}", float(value))
            tf.summary.scalar("train/learning_rate", learning_rate_at(trainer.optimizer, step))

    def after_eval(self, trainer, step, record):
        with self.writer.as_default(step=step):
            for split, tag, r in _entries(record):
                tf.summary.scalar(f"{split}/{tag}/accuracy", r["accuracy"])
                tf.summary.scalar(f"{split}/{tag}/loss", r["loss"])
            for name, counts in record.get("weights", {}).items():
                tf.summary.scalar(f"sparsity/{name}", 1.0 - counts["fraction"])
        self.final = record

    def after_train(self, trainer):
        final = self.final or trainer.run_dir.last_metrics()  # None: resumed at the end, so the last record
        if final is not None:
            metrics = {f"final/{split}/{tag}/accuracy": r["accuracy"] for split, tag, r in _entries(final)}
            if "weights" in final:
                metrics["final/weights_kept"] = final["weights"]["total"]["fraction"]
            write_summary(self.writer, None, metrics, step=final["step"])
        self.writer.close()


def _entries(record):
    """(split, short tag, result) of each evaluation entry of ``record``."""
    from tfrobust.tags import short_names

    for split in ("valid", "test"):
        results = record.get(split, {})
        for name, tag in short_names(results).items():
            yield split, tag, results[name]


class Progress(Hook):
    """A line every ``trainer.log_every`` steps: loss, images per second, the last evaluation."""

    def __init__(self, say: Optional[Callable[[str], None]]):
        self.say = say or (lambda text: None)
        self.last_eval = ""

    def before_train(self, trainer, start_step):
        self.t0, self.images = time.time(), 0

    def after_step(self, trainer, step):
        self.images += trainer.setup.config.batch_size
        total = trainer.setup.config.train_iters
        if step % trainer.log_every == 0 or step == total:
            rate = self.images / max(time.time() - self.t0, 1e-9)
            self.say(f"iter {step}/{total}  loss {trainer.logs['loss']:.4f}  {rate:.0f} img/s"
                     + (f"  | last eval: {self.last_eval}" if self.last_eval else ""))

    def after_eval(self, trainer, step, record):
        split = "valid" if "valid" in record else "test"
        if split in record:
            accs = ", ".join(f"{name} {r['accuracy']:.3f}" for name, r in record[split].items())
            self.last_eval = f"{split} acc: {accs}"


class Checkpointing(Hook):
    """Restores the latest checkpoint of the run (model, optimizer, iteration and every hook's
    ``state``), and at each evaluation point appends the record to metrics.jsonl, then saves.

    On restore, metrics lines after the restored iteration are dropped: they were written after
    the last checkpoint by a run that was killed before it could save."""

    def __init__(self, max_to_keep: int = 2):
        self.max_to_keep = max_to_keep

    def restore(self, trainer) -> int:
        """Builds the checkpoint and restores the latest one; returns the iteration reached."""
        objects = {"model": trainer.model, "optimizer": trainer.optimizer, "iteration": trainer.iteration}
        for hook in trainer.hooks:
            for name, trackable in hook.state(trainer).items():
                if name in objects:
                    raise ValueError(f"two hooks save state named {name!r}")
                objects[name] = trackable
        self.checkpoint = tf.train.Checkpoint(**objects)
        chief = trainer.setup.chief
        directory = trainer.run_dir.checkpoint_dir if chief else tempfile.mkdtemp(prefix="tfrobust-worker-")
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=self.max_to_keep)
        start = 0
        state = os.path.join(directory, "checkpoint")
        if not self.manager.latest_checkpoint and os.path.exists(state):
            trainer.progress(f"{state} names no readable checkpoint; starting from iteration 0")
        if self.manager.latest_checkpoint:
            try:
                status = self.checkpoint.restore(self.manager.latest_checkpoint)
            except Exception as e:  # truncated or foreign files fail in many ways inside TensorFlow
                raise trainer.run_dir.damaged(self.manager.latest_checkpoint,
                                              f"cannot be restored ({type(e).__name__})") from None
            try:
                status.assert_existing_objects_matched()
            except AssertionError as e:
                raise TfrobustError(
                    f"{self.manager.latest_checkpoint} does not hold this run's state ({objects and ', '.join(objects)}): "
                    f"it was saved with another model or other hooks; rerun with --force to start over "
                    f"({str(e).splitlines()[0][:200]})") from None
            start = int(trainer.iteration.numpy())
        if chief:
            trainer.run_dir.truncate_metrics(start)
        return start

    def after_eval(self, trainer, step, record):
        if trainer.setup.chief:
            trainer.run_dir.append_metrics(record)
        self.manager.save(checkpoint_number=step)


class StartFrom(Hook):
    """At iteration 0, sets the weights a stage starts from and, given ``masks_of``, the masks
    ``masks_of(model)`` computes from them; then, given ``reset``, weights ``reset`` (under those
    masks). A resumed stage takes all of it from its checkpoint."""

    def __init__(self, weights: Optional[list], masks_of: Optional[Callable] = None, reset: Optional[list] = None):
        self.weights, self.masks_of, self.reset = weights, masks_of, reset

    def before_train(self, trainer, start_step):
        if start_step:
            return
        model = trainer.model
        if self.weights is not None:
            model.set_weights(self.weights)
        if self.masks_of is not None:
            masks = self.masks_of(model)
            if self.reset is not None:
                model.set_weights(self.reset)
            set_masks(model, masks)
