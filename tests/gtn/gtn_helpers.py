"""Tiny GTN problems for the tests: a synthetic 8x8 dataset, a small generator and learner."""
import dataclasses

import numpy as np
import tensorflow as tf

from tfrobust.gtn.config import GTNConfig

DATASET = "synthetic:image_shape=8x8x1,num_classes=4,train_size=400,test_size=100,noise_std=0.3"
TINY = GTNConfig(dataset=DATASET, valid_size=100, learner="conv:width=4,layers=1", inner_steps=4, few_steps=2,
                 inner_batch=20, noise_dim=8, generator_hidden=16, generator_channels=8, outer_iters=4,
                 outer_batch=20, valid_every=2, checkpoint_every=2)


def tiny(**changes) -> GTNConfig:
    return dataclasses.replace(TINY, **changes)


def splits(config: GTNConfig = TINY):
    from tfrobust.gtn.meta import load_splits

    return load_splits(config)


def problem(T=4, B=6, shape=(8, 8, 1), classes=3, seed=0):
    """``(xs, ys, real_x, real_y, log_lr, log_momentum)`` of a random inner-loop problem."""
    xs = tf.random.stateless_uniform([T, B, *shape], [seed, 1])
    ys = tf.constant(np.arange(T * B).reshape(T, B) % classes, tf.int64)
    real_x = tf.random.stateless_uniform([7, *shape], [seed, 2])
    real_y = tf.constant(np.arange(7) % classes, tf.int64)
    log_lr = tf.fill([T], float(np.log(0.1)))
    log_mom = tf.fill([T], float(np.log(0.5)))
    return xs, ys, real_x, real_y, log_lr, log_mom
