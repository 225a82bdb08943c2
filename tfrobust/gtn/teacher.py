"""What a GTN learns: the generator, the curriculum (one noise tensor per inner step) and the inner
loop's learning rate and momentum per step, and the batches it teaches with.

    teacher = Teacher(config, image_shape=(28, 28, 1), num_classes=10)
    xs, ys = teacher.batches(seed)            # [steps, batch, H, W, C] images, [steps, batch] labels
    state = inner.train(arch, start, xs, ys, teacher.log_lr, teacher.log_momentum)

Labels are fixed and balanced: they run ``0, 1, ..., classes - 1, 0, 1, ...`` through the batches
of all steps in order (example ``i`` of step ``t`` has label ``(t * batch + i) mod classes``), so
each batch holds every class ``batch // classes`` or one more times. The
ablations (``config.ablation``) change only the noise the generator is given: ``none`` uses the
learned curriculum; ``no_curriculum`` fresh standard normal noise drawn from ``seed``;
``shuffled_batches`` the curriculum's (noise, label) pairs permuted across all steps by ``seed``.
``real_data`` has no generator: its batches come from the real training set
(:meth:`Teacher.batches` is not used).
"""
from __future__ import annotations

import math
import os
import numpy as np
import tensorflow as tf

from tfrobust.gtn.config import GTNConfig
from tfrobust.gtn.generator import Generator


class Teacher(tf.Module):
    def __init__(self, config: GTNConfig, image_shape, num_classes: int):
        super().__init__(name="teacher")
        self.config = config
        steps, batch = config.inner_steps, config.inner_batch
        seeds = np.random.SeedSequence([config.seed, 4]).generate_state(4)
        self.generator = None
        self.curriculum = None
        if config.ablation != "real_data":
            self.generator = Generator(image_shape, num_classes, seed=[int(seeds[0]), int(seeds[1])],
                                       noise_dim=config.noise_dim, hidden=config.generator_hidden,
                                       channels=config.generator_channels)
        if config.ablation in ("none", "shuffled_batches"):
            self.curriculum = tf.Variable(tf.random.stateless_normal(
                [steps, batch, config.noise_dim], [int(seeds[2]), int(seeds[3])]), name="curriculum")
        self.log_lr = tf.Variable(tf.fill([steps], math.log(config.inner_lr)), name="log_lr")
        self.log_momentum = tf.Variable(tf.fill([steps], math.log(config.inner_momentum)), name="log_momentum")
        self.labels = tf.constant(np.arange(steps * batch).reshape(steps, batch) % num_classes, tf.int64)

    @property
    def learned(self):
        """The variables the outer loop trains, in a fixed order."""
        generator = [] if self.generator is None else list(self.generator.trainable_variables)
        curriculum = [] if self.curriculum is None else [self.curriculum]
        return generator + curriculum + [self.log_lr, self.log_momentum]

    def noise(self, seed) -> tuple:
        """``(noise [steps, batch, noise_dim], labels [steps, batch])`` the generator gets."""
        ablation = self.config.ablation
        if ablation == "none":
            return self.curriculum, self.labels
        if ablation == "no_curriculum":
            shape = [self.config.inner_steps, self.config.inner_batch, self.config.noise_dim]
            return tf.random.stateless_normal(shape, seed), self.labels
        if ablation == "shuffled_batches":
            n = self.config.inner_steps * self.config.inner_batch
            order = tf.random.experimental.stateless_shuffle(tf.range(n), seed)
            noise = tf.gather(tf.reshape(self.curriculum, [n, -1]), order)
            labels = tf.gather(tf.reshape(self.labels, [n]), order)
            return (tf.reshape(noise, tf.shape(self.curriculum)), tf.reshape(labels, tf.shape(self.labels)))
        raise ValueError(f"the {ablation!r} ablation has no generator")

    def batches(self, seed):
        """``(images, labels)`` of every inner step, generated."""
        noise, labels = self.noise(seed)
        return self.generator(noise, labels), labels

    def fingerprint(self) -> str:
        """SHA-256 of every learned variable's bytes: equal teachers, equal fingerprints."""
        import hashlib

        digest = hashlib.sha256()
        for v in self.learned:
            digest.update(np.ascontiguousarray(v.numpy()).tobytes())
        return digest.hexdigest()

    def restore(self, run_dir: str) -> None:
        """Sets the variables from the latest checkpoint of the GTN run in ``run_dir``; a missing or
        mismatched checkpoint fails clearly."""
        from tfrobust.errors import DataError

        latest = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints"))
        if latest is None:
            raise DataError(f"{run_dir}/checkpoints holds no checkpoint of the GTN")
        try:
            tf.train.Checkpoint(teacher=self).restore(latest).expect_partial().assert_existing_objects_matched()
        except Exception as e:  # truncated or foreign files fail in many ways inside TensorFlow
            raise DataError(f"{latest} cannot be restored into this GTN ({type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]})") from None
