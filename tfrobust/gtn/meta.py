"""Meta-training a GTN, resumably: the outer loop of seed 004 in a run directory.

    training = MetaTraining(config, splits, base_dir)
    results = training.run()      # trains (or resumes, or returns the finished run's results)

One outer iteration ``k``: a fresh learner (weights and, with ``random_width``, its width drawn
from ``(seed, k)``) takes ``inner_steps`` steps on the teacher's batches; its loss on a real
training batch (drawn uniformly from ``(seed, k)``) is differentiated through the whole unrolled
inner loop (:func:`tfrobust.gtn.inner.meta_gradient`) into the generator, the curriculum and the
learned rates; Adam, cosine-decayed, updates them. Everything random in iteration ``k`` depends on
``(seed, k)`` alone, so a run resumed from a checkpoint repeats the uninterrupted run exactly.

The run directory (``<base_dir>/<experiment>/<id>/``) holds ``config.json``; ``metrics.jsonl``
(every ``valid_every`` iterations: the mean outer loss since the last record, and the validation
accuracy of a fresh learner trained on the teacher's batches for ``few_steps`` and for all steps);
``tb/`` (TensorBoard: outer loss, validation accuracies, learned rates, the HParams summary);
``checkpoints/`` (the last holds the final teacher, what runs.gtn_robustness restores);
``samples.png``; and,
last, ``results.json``: validation and test accuracy after ``few_steps`` and after all steps,
against a learner trained normally for one epoch of real data (Adam 0.005, batch 128).
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError, TfrobustError
from tfrobust.experiment import RunDir, StagedRun
from tfrobust.gtn import inner, learning
from tfrobust.gtn.config import GTNConfig
from tfrobust.gtn.learners import make_learner
from tfrobust.gtn.teacher import Teacher
from tfrobust.hparams import write_summary

log = logging.getLogger("tfrobust")
VALID_SALT, LEARNER_SALT, REAL_SALT, BATCH_SALT = 1, 2, 3, 4


def load_splits(config: GTNConfig, data_dir: Optional[str] = None):
    """The GTN's dataset (``config.dataset``), its validation split carved by ``config.seed``."""
    from tfrobust import data
    from tfrobust.spec import parse_flag_spec

    name, options = parse_flag_spec("dataset", config.dataset, data.DATASETS, reserved=("data_dir",))
    splits = data.load(name, batch_size=1000, valid_size=config.valid_size, seed=config.seed, data_dir=data_dir,
                       **options)
    height, width = splits.input_shape[:2]
    if height % 4 or width % 4:
        raise ConfigError(f"--dataset={config.dataset}: its {height}x{width} images cannot be generated (the GTN's "
                          "generator makes images whose sides are multiples of 4)")
    return splits


def seed_of(config_seed: int, *salts) -> tf.Tensor:
    """A stateless seed (two int64s) made from the config's seed and ``salts``."""
    state = np.random.SeedSequence([config_seed, *salts]).generate_state(2, np.uint32)
    return tf.constant(state.astype(np.int64))


class MetaTraining(StagedRun):
    def __init__(self, config: GTNConfig, splits, base_dir: str,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 10):
        config.check_fits(splits.input_shape, splits.num_classes)  # meta-training's memory, before any work
        self.config = config
        self.splits = splits
        self.progress = progress or (lambda text: None)
        self.log_every = log_every
        self.run_dir = self.root = RunDir.for_config(base_dir, config.experiment, config, progress=self.progress)
        self.arch = make_learner(config.learner)
        self.valid_arch = dataclasses.replace(self.arch, random_width=False)  # the nominal width
        x, y = splits.train_arrays
        self.train_x, self.train_y = tf.constant(x), tf.constant(y, tf.int64)
        self.teacher = Teacher(config, splits.input_shape, splits.num_classes)
        schedule = keras.optimizers.schedules.CosineDecay(config.outer_lr, config.outer_iters,
                                                          alpha=config.outer_lr_final)
        self.optimizer = keras.optimizers.Adam(schedule)
        self.optimizer.build(self.teacher.learned)
        self.iteration = tf.Variable(0, dtype=tf.int64, name="iteration")
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, name="loss_sum")
        self.loss_count = tf.Variable(0, dtype=tf.int64, name="loss_count")

    # -- one outer iteration ------------------------------------------------------------------

    def real_batch(self, seed, size: int):
        idx = tf.random.stateless_uniform([size], seed, maxval=tf.shape(self.train_y, out_type=tf.int64)[0],
                                          dtype=tf.int64)
        return learning.as_float(tf.gather(self.train_x, idx)), tf.gather(self.train_y, idx)

    def inner_batches(self, seed):
        """The inner loop's batches: generated, or (``real_data``) real training batches."""
        if self.config.ablation == "real_data":
            c = self.config
            x, y = self.real_batch(seed, c.inner_steps * c.inner_batch)
            return tf.reshape(x, [c.inner_steps, c.inner_batch, *x.shape[1:]]), tf.reshape(y, [c.inner_steps, -1])
        return self.teacher.batches(seed)

    def gradients(self, k: int):
        """``(outer loss, gradients of the learned variables)`` of outer iteration ``k``."""
        c = self.config
        learner_seed = seed_of(c.seed, LEARNER_SALT, k)
        arch = self.arch.sample(learner_seed.numpy().tolist())
        params, means = arch.init(learner_seed, self.splits.input_shape, self.splits.num_classes)
        seeds = tf.random.experimental.stateless_split(seed_of(c.seed, BATCH_SALT, k), 2)
        real_x, real_y = self.real_batch(seeds[0], c.outer_batch)
        chunked = c.checkpointing and c.generator_chunk and self.teacher.generator is not None
        tape = tf.GradientTape(persistent=False)
        if chunked:  # no tape: the chunks are recomputed under their own below
            xs, ys = self.inner_batches(seeds[1])
        else:
            with tape:  # eager: the generator's few large ops
                xs, ys = self.inner_batches(seeds[1])
        loss, grad_xs, grad_lr, grad_mom = inner.meta_gradient(
            arch, inner.start_state(params, means), xs, ys, self.teacher.log_lr, self.teacher.log_momentum,
            real_x, real_y, every_step=c.outer_loss == "every_step", checkpointing=c.checkpointing)
        sources = self.teacher.learned[:-2]  # the generator and the curriculum
        if not sources:
            grads = []
        elif chunked:
            grads = self._generator_gradients(seeds[1], grad_xs, sources)
        else:
            grads = [tf.convert_to_tensor(g) for g in tape.gradient(xs, sources, output_gradients=grad_xs)]
        return loss, grads + [grad_lr, grad_mom]

    def _generator_gradients(self, seed, grad_xs, sources):
        """The generator's and the curriculum's gradients, the generator rerun ``generator_chunk``
        inner steps' batches at a time (each step's batch norm sees only its own batch, so the
        chunks give the images of one pass)."""
        chunk, total = self.config.generator_chunk, None
        for start in range(0, self.config.inner_steps, chunk):
            with tf.GradientTape() as tape:
                noise, labels = self.teacher.noise(seed)
                images = self.teacher.generator(noise[start:start + chunk], labels[start:start + chunk])
            part = [tf.convert_to_tensor(g) for g in
                    tape.gradient(images, sources, output_gradients=grad_xs[start:start + chunk])]
            total = part if total is None else [a + b for a, b in zip(total, part)]
        return total

    def outer_step(self, k: int) -> float:
        """Runs outer iteration ``k`` (one Adam step); returns its outer loss."""
        loss, grads = self.gradients(k)
        finite = bool(tf.math.is_finite(loss)) and all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads)
        if not finite:
            raise TfrobustError(
                f"the outer loss or its gradient is not finite at outer iteration {k + 1} (loss {float(loss)}): "
                f"the unrolled inner loop diverged; lower --outer_lr or --inner_lr")
        self.optimizer.apply_gradients(zip(grads, self.teacher.learned))
        return float(loss)

    # -- validation ---------------------------------------------------------------------------

    def validation_batches(self, seed=None):
        """The teacher's batches the validation learner trains on (and samples.png shows)."""
        seed = seed_of(self.config.seed, VALID_SALT) if seed is None else seed
        return self.inner_batches(tf.random.experimental.stateless_split(seed, 1)[0])

    def trained_learners(self, arch=None, seed=None) -> Dict[str, tuple]:
        """``{"few": state, "all": state}``: one fresh learner trained on the teacher's batches for
        ``few_steps`` and for all the inner steps (the validation learner by default)."""
        arch = arch or self.valid_arch
        seed = seed_of(self.config.seed, VALID_SALT) if seed is None else seed
        start = arch.init(seed, self.splits.input_shape, self.splits.num_classes)
        xs, ys = self.validation_batches(seed)
        return {name: learning.on_batches(arch, start, xs, ys, self.teacher.log_lr, self.teacher.log_momentum, steps)
                for name, steps in (("few", self.config.few_steps), ("all", self.config.inner_steps))}

    def validate(self, splits=("valid",)) -> Dict[str, Dict[str, float]]:
        learners = self.trained_learners()
        out = {}
        for split in splits:
            x, y = self.split_arrays(split)
            out[split] = {f"{name}_{steps}": learning.accuracy(self.valid_arch, learners[name], x, y)
                          for name, steps in (("few", self.config.few_steps), ("all", self.config.inner_steps))}
        return out

    def split_arrays(self, split: str):
        """``(x, y)`` of the ``valid`` or ``test`` split as arrays (read once)."""
        cache = self.__dict__.setdefault("_arrays", {})
        if split not in cache:
            cache[split] = learning.arrays_of(getattr(self.splits, split))
        return cache[split]

    # -- the run (experiment.StagedRun: one stage, the outer loop) -----------------------------

    def run_stages(self) -> None:
        self._train()

    def _checkpoint(self):
        checkpoint = tf.train.Checkpoint(teacher=self.teacher, optimizer=self.optimizer, iteration=self.iteration,
                                         loss_sum=self.loss_sum, loss_count=self.loss_count)
        manager = tf.train.CheckpointManager(checkpoint, self.run_dir.checkpoint_dir, max_to_keep=1)
        if manager.latest_checkpoint:
            try:
                checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            except Exception as e:  # truncated or foreign files fail in many ways inside TensorFlow
                raise self.run_dir.damaged(manager.latest_checkpoint, f"cannot be restored ({type(e).__name__})") from None
        return manager

    def _train(self) -> None:
        c, rd = self.config, self.run_dir
        manager = self._checkpoint()
        start = int(self.iteration.numpy())
        rd.truncate_metrics(start)
        if start:
            self.progress(f"resuming {rd.path} at outer iteration {start}")
        writer = tf.summary.create_file_writer(rd.tb_dir)
        write_summary(writer, {**c.to_dict(), "run_id": rd.id}, {})  # TensorBoard's HParams dashboard
        t0 = time.time()
        for k in range(start, c.outer_iters):
            loss = self.outer_step(k)
            self.iteration.assign(k + 1)
            self.loss_sum.assign_add(loss)
            self.loss_count.assign_add(1)
            with writer.as_default(step=k + 1):
                tf.summary.scalar("train/outer_loss", loss)
            if (k + 1) % self.log_every == 0:
                self.progress(f"outer iteration {k + 1}/{c.outer_iters}: loss {loss:.4f} "
                              f"({(time.time() - t0) / (k + 1 - start):.2f} s each)")
            if (k + 1) % c.valid_every == 0 or k + 1 == c.outer_iters:
                record = {"step": k + 1, "outer_loss": float(self.loss_sum.numpy()) / int(self.loss_count.numpy()),
                          **self.validate(), **self.schedule_summary()}
                self.loss_sum.assign(0.0)
                self.loss_count.assign(0)
                rd.append_metrics(record)
                self._summaries(writer, k + 1, record)
                self.progress(f"outer iteration {k + 1}: valid accuracy " + ", ".join(
                    f"{name} {acc:.4f}" for name, acc in record["valid"].items()))
                manager.save(checkpoint_number=k + 1)
            elif (k + 1) % c.checkpoint_every == 0:
                manager.save(checkpoint_number=k + 1)
        final = rd.last_metrics()
        if final is not None:  # the HParams dashboard's metrics
            write_summary(writer, None, step=final["step"],
                          metrics={f"final/valid/{name}/accuracy": acc for name, acc in final["valid"].items()})
        writer.close()

    def schedule_summary(self) -> Dict:
        lr, mom = np.exp(self.teacher.log_lr.numpy()), np.exp(self.teacher.log_momentum.numpy())
        return {"inner_lr": {"min": float(lr.min()), "mean": float(lr.mean()), "max": float(lr.max())},
                "inner_momentum": {"min": float(mom.min()), "mean": float(mom.mean()), "max": float(mom.max())}}

    def _summaries(self, writer, step, record):
        with writer.as_default(step=step):
            for name, acc in record["valid"].items():
                tf.summary.scalar(f"valid/accuracy_{name}", acc)
            for key in ("inner_lr", "inner_momentum"):
                tf.summary.scalar(f"schedule/{key}_mean", record[key]["mean"])
        writer.flush()

    def results(self, seconds: float) -> Dict:
        """samples.png, then the final record (written last, by :meth:`StagedRun.run`)."""
        from tfrobust.analysis import gtn as plots

        c, rd = self.config, self.run_dir
        if self.teacher.generator is not None:
            images, labels = self.validation_batches()
            plots.samples(images.numpy(), labels.numpy(), os.path.join(rd.path, "samples.png"),
                          steps=min(c.inner_steps, 8), classes=self.splits.num_classes)
        accuracies = self.validate(("valid", "test"))
        x, y = self.splits.train_arrays
        start = self.valid_arch.init(seed_of(c.seed, VALID_SALT), self.splits.input_shape, self.splits.num_classes)
        vanilla = learning.normally(self.valid_arch, start, x, y, seed=c.seed)
        real = {split: learning.accuracy(self.valid_arch, vanilla, *self.split_arrays(split)) for split in ("valid", "test")}
        results = {"final": accuracies, "real_data_epoch": real,
                   "learned_lr": np.exp(self.teacher.log_lr.numpy()).tolist(),
                   "learned_momentum": np.exp(self.teacher.log_momentum.numpy()).tolist(),
                   "learner": self.valid_arch.spec, "teacher_sha256": self.teacher.fingerprint(), "seconds": seconds}
        return results
