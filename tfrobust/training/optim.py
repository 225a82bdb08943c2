"""Optimizers (Adam, SGD with momentum / Nesterov, each with weight decay) and learning-rate
schedules (constant, piecewise, cosine, cyclic), counted in iterations."""
from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras

from tfrobust.training.config import TrainConfig


class CyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cycles (Smith, 2017): from ``low`` up to ``high`` and back every ``period`` steps."""

    def __init__(self, low: float, high: float, period: int):
        self.low, self.high, self.period = float(low), float(high), int(period)

    def __call__(self, step):
        phase = tf.math.floormod(tf.cast(step, tf.float32), self.period) / self.period
        return self.low + (self.high - self.low) * (1.0 - tf.abs(2.0 * phase - 1.0))

    def get_config(self):
        return {"low": self.low, "high": self.high, "period": self.period}


def make_schedule(config: TrainConfig):
    lr = config.learning_rate
    if config.schedule == "constant":
        return lr
    if config.schedule == "piecewise":
        values = [lr] + [lr * f for f in config.lr_factors]
        return keras.optimizers.schedules.PiecewiseConstantDecay(list(config.lr_boundaries), values)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, config.train_iters, alpha=config.min_lr_factor)
    return CyclicLR(lr * config.min_lr_factor, lr, config.cycle_iters)


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    schedule = make_schedule(config)
    wd = config.weight_decay or None
    if config.optimizer == "adam":
        cls = keras.optimizers.AdamW if wd else keras.optimizers.Adam
        return cls(schedule, weight_decay=wd) if wd else cls(schedule)
    return keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov, weight_decay=wd)


def learning_rate_at(optimizer, step: int) -> float:
    lr = optimizer.learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        return float(lr(step))
    value = float(lr.numpy() if hasattr(lr, "numpy") else lr)
    return value if math.isfinite(value) else float("nan")
