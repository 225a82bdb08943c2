"""The one training loop: strategy-aware, counted in iterations, resumable, with hooks.

    results = train(TrainConfig(...), base_dir="results")

Every ``eval_every`` iterations (and at the end) it evaluates on validation and test, naturally and
under the evaluation attacks, appends a line to ``metrics.jsonl``, writes TensorBoard scalars and
saves a checkpoint. A rerun of the same config resumes from the last checkpoint (the data order
and the attack seeds are functions of the iteration, so a resumed run ends exactly where an
uninterrupted one would); a finished run is returned from ``results.json`` unless ``force``.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf

from tfrobust import distribute, models
from tfrobust.attacks import ATTACKS, make_attack
from tfrobust.errors import ConfigError, TfrobustError
from tfrobust.evaluation import evaluate
from tfrobust.experiment import RunDir
from tfrobust.layers import count_weights, masked_layers
from tfrobust.saving import save_model
from tfrobust.spec import parse_flag_spec
from tfrobust.training.config import TrainConfig
from tfrobust.training.hooks import Hook
from tfrobust.training.optim import learning_rate_at, make_optimizer
from tfrobust.training.steps import STEPS, smoothed_loss

log = logging.getLogger("tfrobust")


def _attack(spec: str, flag: str, training: bool = False):
    """The attack of a spec; for training, PGD returns its last iterate unless keep_best is given."""
    name, settings = parse_flag_spec(flag, spec, ATTACKS)
    if training and name == "pgd":
        settings.setdefault("keep_best", False)
    try:
        return make_attack(name, **settings)
    except ConfigError as e:
        raise ConfigError(f"--{flag}={spec}: {e}") from None


def training_attack(spec: str):
    """The attack ``--attack=spec`` trains with (PGD: Madry's last iterate unless keep_best=true)."""
    return _attack(spec, "attack", training=True)


def make_attacks(config: TrainConfig):
    """``(training attack, {label: evaluation attack})`` of a config; a bad spec names its flag."""
    train = training_attack(config.attack)
    evaluation = {}
    for spec in config.evaluation_attacks:
        attack = _attack(spec, "eval_attacks" if config.eval_attacks else "attack")
        evaluation[attack.label] = attack
    return train, evaluation


def model_spec(config: TrainConfig):
    """``(model name, options)`` of ``--model``; an error names the flag."""
    return parse_flag_spec("model", config.model, models.MODELS, reserved=("input_shape", "num_classes", "seed"))


def load_splits(config: TrainConfig, data_dir: Optional[str] = None):
    from tfrobust import data

    name, options = parse_flag_spec("dataset", config.dataset, data.DATASETS, reserved=("data_dir",))
    return data.load(name, batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
                     valid_size=config.valid_size, seed=config.seed, data_dir=data_dir, **options)


def make_train_step(model, optimizer, step_fn, strategy, config: TrainConfig, num_classes: int,
                    iteration: tf.Variable):
    """The compiled training step ``train_step(iterator) -> loss``: one batch, one update.

    The loss is averaged over the global batch (``config.batch_size``) so that any number of
    replicas gives the same update; the attack seed is ``(config.seed, iteration)`` folded with the
    replica id, so a resumed run draws the same random starts.
    """
    c = config
    kernels = [layer.kernel for layer in masked_layers(model)]
    replicas = strategy.num_replicas_in_sync

    def replica_step(x, y, step):
        ctx = tf.distribute.get_replica_context()
        seed = tf.stack([tf.constant(c.seed, tf.int64), step])
        seed = tf.random.experimental.stateless_fold_in(seed, ctx.replica_id_in_sync_group)
        parts = step_fn.inputs(model, x, y, seed)
        with tf.GradientTape() as tape:
            loss = 0.0
            for inputs, weight in parts:
                per_example = smoothed_loss(model(inputs, training=True), y, num_classes, c.label_smoothing)
                loss += weight * tf.nn.compute_average_loss(per_example, global_batch_size=c.batch_size)
            if c.l1_reg:
                loss += c.l1_reg * tf.add_n([tf.reduce_sum(tf.abs(k)) for k in kernels]) / replicas
            if model.losses:
                loss += tf.add_n(model.losses) / replicas
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(iterator):
        x, y = next(iterator)
        per_replica = strategy.run(replica_step, args=(x, y, iteration))
        iteration.assign_add(1)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return train_step


class Trainer:
    """Holds what one run needs; :meth:`run` trains it. Hooks see the trainer.

    A driver that trains many runs in one process (the lottery rounds) passes ``run_path`` (the
    run directory, instead of ``<base_dir>/<experiment>/<id>``), and the ``splits`` and
    ``strategy`` it already has: a MultiWorkerMirroredStrategy can be made only once per process.
    """

    def __init__(self, config: TrainConfig, base_dir: str, data_dir: Optional[str] = None,
                 hooks: Sequence[Hook] = (), progress: Optional[Callable[[str], None]] = None,
                 log_every: int = 100, run_path: Optional[str] = None, splits=None, strategy=None):
        self.config = config
        self.hooks = list(hooks)
        self.progress = progress or (lambda text: None)
        self.log_every = log_every
        self.run_dir = RunDir(base_dir, config.experiment, config.to_dict(), path=run_path)
        self.train_attack, self.eval_attacks = make_attacks(config)
        self.step_fn = STEPS.get(config.step)(self.train_attack, config.adv_weight)
        self.model_name, self.model_options = model_spec(config)
        self.strategy = strategy or distribute.make_strategy(config.strategy, config.devices)
        self.chief = distribute.is_chief(self.strategy)
        self.splits = splits or load_splits(config, data_dir)

    # ---- building -----------------------------------------------------------------------
    def build(self) -> None:
        c = self.config
        with self.strategy.scope():
            self.model = models.build_model(self.model_name, self.splits.input_shape,
                                            self.splits.num_classes, seed=c.seed, **self.model_options)
            self.optimizer = make_optimizer(c)
            self.optimizer.build(self.model.trainable_variables)
            self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self.checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer,
                                              iteration=self.iteration)
        ckpt_dir = self.run_dir.checkpoint_dir if self.chief else tempfile.mkdtemp(prefix="tfrobust-worker-")
        self.manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=2)
        self._train_step = make_train_step(self.model, self.optimizer, self.step_fn, self.strategy,
                                           self.config, self.splits.num_classes, self.iteration)

    # ---- running ------------------------------------------------------------------------
    def run(self, force: bool = False) -> Dict:
        rd = self.run_dir
        if rd.finished and not force:
            self.progress(f"{rd.path} is finished; returning its results (use --force to redo)")
            return rd.read_results()
        if force and self.chief:
            rd.wipe()
        self.build()  # a bad model spec fails here, before anything is written
        if self.chief:
            rd.prepare()
        start_step = 0
        if self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).assert_existing_objects_matched()
            start_step = int(self.iteration.numpy())
            if self.chief:
                rd.truncate_metrics(start_step)
            self.progress(f"resuming {rd.path} from iteration {start_step}")
        else:
            self.progress(f"training in {rd.path}")
        for hook in self.hooks:
            hook.before_train(self, start_step)

        # The data order is a function of the seed only: resuming skips what was already seen.
        train = self.splits.train_stream(self.config.seed).skip(start_step)
        if self.config.strategy != "default":
            train = self.strategy.experimental_distribute_dataset(train)
        iterator = iter(train)
        writer = tf.summary.create_file_writer(rd.tb_dir if self.chief else tempfile.mkdtemp())
        c = self.config
        losses, last_eval, t0, images = [], None, time.time(), 0
        with writer.as_default():
            for step in range(start_step + 1, c.train_iters + 1):
                loss = float(self._train_step(iterator))
                if loss != loss:
                    raise TfrobustError(f"the training loss became NaN at iteration {step}; "
                                        "lower --learning_rate or check the data")
                losses.append(loss)
                images += c.batch_size
                for hook in self.hooks:
                    hook.after_step(self, step)
                if step % self.log_every == 0 or step == c.train_iters:
                    rate = images / max(time.time() - t0, 1e-9)
                    tf.summary.scalar("train/loss", loss, step=step)
                    tf.summary.scalar("train/learning_rate", learning_rate_at(self.optimizer, step), step=step)
                    self.progress(f"iter {step}/{c.train_iters}  loss {loss:.4f}  {rate:.0f} img/s"
                                  + (f"  | last eval: {last_eval}" if last_eval else ""))
                if step % c.eval_every == 0 or step == c.train_iters:
                    record = self.evaluate_point(step, sum(losses) / len(losses))
                    losses = []
                    last_eval = _summary(record)
                    for hook in self.hooks:
                        hook.after_eval(self, step, record)
                    self.manager.save(checkpoint_number=step)
        for hook in self.hooks:
            hook.after_train(self)
        results = {"config": c.to_dict(), "id": rd.id, "final": record,
                   "train_seconds": time.time() - t0, "resumed_from": start_step}
        if self.chief:
            save_model(self.model, os.path.join(rd.path, "model.keras"))
            rd.write_results(results)  # last: its presence marks the run finished
        return results

    def evaluate_point(self, step: int, train_loss: float) -> Dict:
        c = self.config
        limit = c.eval_examples or None
        record = {"step": step, "train_loss": train_loss,
                  "learning_rate": learning_rate_at(self.optimizer, step),
                  "weights": count_weights(self.model)}
        for split in ("valid", "test"):
            dataset = getattr(self.splits, split)
            if dataset is None:
                continue
            record[split] = evaluate(self.model, dataset, self.eval_attacks, max_examples=limit,
                                     seed=c.seed * 1_000_003 + step)
            for name, r in record[split].items():
                tf.summary.scalar(f"{split}/{name}/accuracy", r["accuracy"], step=step)
                tf.summary.scalar(f"{split}/{name}/loss", r["loss"], step=step)
        for name, counts in record["weights"].items():
            tf.summary.scalar(f"sparsity/{name}", 1.0 - counts["fraction"], step=step)
        if self.chief:
            self.run_dir.append_metrics(record)
        return record


def _summary(record: Dict) -> str:
    split = "valid" if "valid" in record else "test"
    accs = ", ".join(f"{name} {r['accuracy']:.3f}" for name, r in record[split].items())
    return f"{split} acc: {accs}"


def train(config: TrainConfig, base_dir: str, data_dir: Optional[str] = None, force: bool = False,
          hooks: Sequence[Hook] = (), progress: Optional[Callable[[str], None]] = None,
          log_every: int = 100) -> Dict:
    """Trains ``config`` in its run directory under ``base_dir``; returns the results record."""
    return Trainer(config, base_dir, data_dir, hooks, progress, log_every).run(force=force)
