"""Optimizers (Adam, SGD with momentum / Nesterov, each with weight decay) and learning-rate
schedules (constant, piecewise, cosine, cyclic, restart), counted in iterations, in two registries keyed by
the names ``--optimizer`` and ``--schedule`` take."""
from __future__ import annotations

import math

import tensorflow as tf
import tf_keras as keras

from tfrobust.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")
SCHEDULES: Registry = Registry("schedule")


class CyclicLR(keras.optimizers.schedules.LearningRateSchedule):
    """Triangular cycles (Smith, 2017): from ``low`` up to ``high`` and back every ``period`` steps."""

    def __init__(self, low: float, high: float, period: int):
        self.low, self.high, self.period = float(low), float(high), int(period)

    def __call__(self, step):
        phase = tf.math.floormod(tf.cast(step, tf.float32), self.period) / self.period
        return self.low + (self.high - self.low) * (1.0 - tf.abs(2.0 * phase - 1.0))

    def get_config(self):
        return {"low": self.low, "high": self.high, "period": self.period}


class RestartingPiecewise(keras.optimizers.schedules.LearningRateSchedule):
    """A piecewise-constant schedule that starts again every ``period`` steps: within a period, the
    step ``offset`` (counted from the period's start) gets ``values[i]``, where ``i`` is the number
    of ``boundaries`` below ``offset`` (as in Keras' PiecewiseConstantDecay). ADMM's reference
    restarts its learning rate at every Z/U update this way."""

    def __init__(self, period: int, boundaries, values):
        self.period, self.boundaries, self.values = int(period), [int(b) for b in boundaries], [float(v) for v in values]

    def __call__(self, step):
        offset = tf.math.floormod(tf.cast(step, tf.int64), self.period)
        index = tf.reduce_sum(tf.cast(offset > tf.constant(self.boundaries, tf.int64), tf.int32)) \
            if self.boundaries else 0
        return tf.gather(tf.constant(self.values, tf.float32), index)

    def get_config(self):
        return {"period": self.period, "boundaries": self.boundaries, "values": self.values}


@SCHEDULES.register("constant")
def _constant(config):
    return config.learning_rate


@SCHEDULES.register("piecewise")
def _piecewise(config):
    values = [config.learning_rate] + [config.learning_rate * f for f in config.lr_factors]
    return keras.optimizers.schedules.PiecewiseConstantDecay(list(config.lr_boundaries), values)


@SCHEDULES.register("restart")
def _restart(config):
    values = [config.learning_rate] + [config.learning_rate * f for f in config.lr_factors]
    return RestartingPiecewise(config.cycle_iters, config.lr_boundaries, values)


@SCHEDULES.register("cosine")
def _cosine(config):
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, config.train_iters,
                                                  alpha=config.min_lr_factor)


@SCHEDULES.register("cyclic")
def _cyclic(config):
    return CyclicLR(config.learning_rate * config.min_lr_factor, config.learning_rate, config.cycle_iters)


@OPTIMIZERS.register("adam")
def _adam(config, schedule):
    if config.weight_decay:
        return keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay)
    return keras.optimizers.Adam(schedule)


@OPTIMIZERS.register("sgd")
def _sgd(config, schedule):
    return keras.optimizers.SGD(schedule, momentum=config.momentum, nesterov=config.nesterov,
                                weight_decay=config.weight_decay or None)


def make_schedule(config):
    """The learning rate (a float or a schedule of the iteration) of a TrainConfig."""
    return SCHEDULES.get(config.schedule)(config)


def make_optimizer(config) -> keras.optimizers.Optimizer:
    return OPTIMIZERS.get(config.optimizer)(config, make_schedule(config))


def learning_rate_at(optimizer, step: int) -> float:
    lr = optimizer.learning_rate
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule):
        return float(lr(step))
    value = float(lr.numpy() if hasattr(lr, "numpy") else lr)
    return value if math.isfinite(value) else float("nan")
