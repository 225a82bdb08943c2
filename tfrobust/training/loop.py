"""The one training loop: strategy-aware, counted in iterations, resumable; everything else is a hook.

    results = train(TrainConfig(...), base_dir="results")              # build + run directory + loop
    trainer = Trainer(build(config), RunDir.for_config(...), hooks=[MyHook()])
    results = trainer.run()

Each iteration is one compiled step (:func:`make_train_step`): the objective's loss plus the
regularisers, one optimizer update. Evaluation, TensorBoard, progress lines and checkpoints are
standard hooks (:mod:`tfrobust.training.hooks`); every ``eval_every`` iterations (and at the end)
the hooks see an evaluation point. A rerun of the same config resumes from the last checkpoint
(the data order and the attack seeds are functions of the iteration, so a resumed run ends
exactly where an uninterrupted one would); a finished run is returned from ``results.json``
unless ``force``.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf

from tfrobust import records
from tfrobust.experiment import RunDir, attempt
from tfrobust.saving import save_model
from tfrobust.training.averaging import UseAverage, UseRaw, WeightAverage
from tfrobust.training.clipping import clip, clipped_variables
from tfrobust.training.config import TrainConfig
from tfrobust.training.early_stopping import EarlyStopping
from tfrobust.training.hooks import Checkpointing, Divergence, Evaluation, Hook, Progress, TensorBoard
from tfrobust.training.label_noise import attacking_true_labels, noisy_labels
from tfrobust.training.optim import learning_rate_at, make_optimizer
from tfrobust.training.snapshots import Snapshots


def make_train_step(model, optimizer, objective, regularizers, strategy, global_batch_size: int,
                    seed: int, iteration: tf.Variable, label_noise: float = 0.0, num_classes: int = 10,
                    weight_clip: float = 0.0, after_update: Optional[Callable[[], None]] = None):
    """The compiled step ``train_step(iterator) -> (loss, metrics)``: one batch, one update.

    Each replica's loss is its batch mean scaled by its share of ``global_batch_size``, and each
    regulariser is divided by the number of replicas, so any number of replicas gives the same
    update. The objective's seed is ``(seed, iteration)`` folded with the replica id, so a resumed
    run draws the same random starts.

    ``label_noise`` > 0 replaces each label the objective's losses see, with that probability, by
    a class uniform in ``[0, num_classes)``, drawn from the step seed; the training attack still
    attacks the true labels (:mod:`tfrobust.training.label_noise`). After the replicas' update,
    ``weight_clip`` > 0 clips the weights (:mod:`tfrobust.training.clipping`), then
    ``after_update()`` runs (in cross-replica context; the weight average's update).
    """
    replicas = strategy.num_replicas_in_sync
    clipped = clipped_variables(model) if weight_clip else []

    def replica_step(x, y, step):
        ctx = tf.distribute.get_replica_context()
        step_seed = tf.stack([tf.constant(seed, tf.int64), step])
        step_seed = tf.random.experimental.stateless_fold_in(step_seed, ctx.replica_id_in_sync_group)
        step_objective = objective
        if label_noise:
            true_y, y = y, noisy_labels(y, label_noise, num_classes, step_seed)
            step_objective = attacking_true_labels(objective, y, true_y)
        step_objective.before_update(model, x, y, step_seed)
        with tf.GradientTape() as tape:
            loss, metrics = step_objective.loss(model, x, y, step_seed)
            share = tf.cast(tf.shape(x)[0], loss.dtype) / global_batch_size
            loss = loss * share
            for term in regularizers:
                loss += term(model) / replicas
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        step_objective.after_update(model, x, y, step_seed)
        return loss, metrics

    @tf.function
    def train_step(iterator):
        x, y = next(iterator)
        loss, metrics = strategy.run(replica_step, args=(x, y, iteration))
        if clipped:
            clip(clipped, weight_clip)
        if after_update is not None:
            after_update()
        iteration.assign_add(1)
        mean = tf.distribute.ReduceOp.MEAN
        return (strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None),
                {name: strategy.reduce(mean, value, axis=None) for name, value in metrics.items()})

    return train_step


class Trainer:
    """Loops over one :class:`~tfrobust.build.Setup` in one :class:`~tfrobust.experiment.RunDir`.

    ``hooks`` run between the standard ones (see :mod:`tfrobust.training.hooks`); ``divergence``,
    ``evaluation``, ``tensorboard`` and ``checkpointing`` replace a standard hook; ``progress`` receives progress
    lines every ``log_every`` iterations. A second process on the same run directory is refused,
    or waits up to ``wait_for_lock`` seconds for the first (:class:`~tfrobust.experiment.RunLock`).
    ``hparams`` places the run in a study (``{"trial": 0, "round": 2}``): TensorBoard's HParams
    summary shows them beside the config's fields.

    The config's training options: ``label_noise`` and ``weight_clip`` act in the compiled step
    (:func:`make_train_step`); before the first step (after the hooks' ``before_train``, so after
    a :class:`~tfrobust.training.hooks.StartFrom` set the weights) the weights are clipped and the
    weight average starts. ``weight_average`` makes :attr:`averaging` (a
    :class:`~tfrobust.training.averaging.WeightAverage`): every evaluation point sees the average,
    and at the end the model holds it (model.keras saves it; ``averaging.raw`` holds the raw
    weights). ``early_stopping`` and ``snapshots`` add their hooks after the evaluation.
    """

    def __init__(self, setup, run_dir: RunDir, hooks: Sequence[Hook] = (), evaluation: Hook = None,
                 tensorboard: Hook = None, checkpointing: Checkpointing = None, divergence: Hook = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 wait_for_lock: float = 0.0, hparams: Optional[Dict] = None):
        self.setup, self.run_dir = setup, run_dir
        self.hparams = dict(hparams or {})
        self.wait_for_lock = wait_for_lock
        self.config: TrainConfig = setup.config
        self.progress = progress or (lambda text: None)
        self.log_every = log_every
        self.checkpointing = checkpointing or Checkpointing()
        c = self.config
        evaluated = [evaluation or Evaluation()]
        evaluated += [EarlyStopping()] if c.early_stopping else []
        evaluated += [Snapshots()] if c.snapshots else []
        if c.weight_average:
            evaluated = [UseAverage(), *evaluated, UseRaw()]
        self.hooks = [divergence or Divergence(), *evaluated, tensorboard or TensorBoard(),
                      Progress(progress), *hooks, self.checkpointing]
        self.averaging: Optional[WeightAverage] = None
        self.logs: Dict[str, float] = {}

    @property
    def chief(self) -> bool:
        return self.setup.chief

    def build(self) -> None:
        """The model, optimizer, iteration counter and compiled step."""
        s, c = self.setup, self.config
        self.model = s.new_model()
        with s.strategy.scope():
            self.optimizer = make_optimizer(c)
            self.optimizer.build(self.model.trainable_variables)
            self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
            self.averaging = WeightAverage(self.model, c.weight_average) if c.weight_average else None
        self._train_step = make_train_step(self.model, self.optimizer, s.objective, s.regularizers,
                                           s.strategy, c.batch_size, c.seed, self.iteration,
                                           label_noise=c.label_noise, num_classes=s.splits.num_classes,
                                           weight_clip=c.weight_clip,
                                           after_update=self.averaging.update if self.averaging else None)

    def _start(self) -> None:
        """Before the first step: clips the weights (``weight_clip``), starts the average."""
        if self.config.weight_clip:
            clip(clipped_variables(self.model), self.config.weight_clip)
        if self.averaging is not None:
            self.averaging.start()

    def run(self, force: bool = False) -> Dict:
        """Trains (or resumes) in the run directory, holding its lock; returns the results record."""
        rd = self.run_dir
        if rd.finished and not force:
            self.progress(f"{rd.path} is finished; returning its results (use --force to redo)")
            return rd.read_results(records.RUN)
        self.build()  # a bad model spec fails here, before anything is written
        with attempt(rd.path, self.wait_for_lock, self.chief, rd.wipe if force else None):
            if self.chief:  # a failure leaves the directory as it was (or empty, with force)
                rd.prepare()
            return self._train()

    def _train(self) -> Dict:
        rd, c = self.run_dir, self.config
        start_step = self.checkpointing.restore(self)
        self.progress(f"resuming {rd.path} from iteration {start_step}" if start_step else f"training in {rd.path}")
        for hook in self.hooks:
            hook.before_train(self, start_step)
        if start_step == 0:
            self._start()

        # The data order is a function of the seed only: resuming skips what was already seen.
        train = self.setup.splits.train_stream(c.seed).skip(start_step)
        if c.strategy != "default":
            train = self.setup.strategy.experimental_distribute_dataset(train)
        iterator = iter(train)
        losses, t0 = [], time.time()
        record = rd.last_metrics() if start_step == c.train_iters else None
        for step in range(start_step + 1, c.train_iters + 1):
            loss, metrics = self._train_step(iterator)
            loss = float(loss)
            losses.append(loss)
            self.logs = {"loss": loss, **metrics}
            for hook in self.hooks:
                hook.after_step(self, step)
            if step % c.eval_every == 0 or step == c.train_iters:
                record = {"step": step, "train_loss": sum(losses) / len(losses),
                          "learning_rate": learning_rate_at(self.optimizer, step)}
                losses = []
                for hook in self.hooks:
                    hook.after_eval(self, step, record)
        for hook in self.hooks:
            hook.after_train(self)
        if self.averaging is not None:
            self.averaging.use_average()  # the run's model is the average
        results = {"config": c.to_dict(), "id": rd.id, "final": record,
                   "train_seconds": time.time() - t0, "resumed_from": start_step}
        for hook in self.hooks:
            results.update(hook.results(self))
        if self.chief:
            save_model(self.model, os.path.join(rd.path, "model.keras"))
            rd.write_results(results)  # last: its presence marks the run finished
        return results


def train(config: TrainConfig, base_dir: str, data_dir: Optional[str] = None, force: bool = False,
          hooks: Sequence[Hook] = (), progress: Optional[Callable[[str], None]] = None,
          log_every: int = 100) -> Dict:
    """Builds ``config``, finds its run directory under ``base_dir`` and trains (or resumes, or
    returns the finished results)."""
    from tfrobust.build import build

    setup = build(config, data_dir)
    run_dir = RunDir.for_config(base_dir, config.experiment, config, progress, chief=setup.chief)
    return Trainer(setup, run_dir, hooks=hooks, progress=progress, log_every=log_every).run(force=force)
