"""Helpers shared by the flatness tests."""
import numpy as np
import tf_keras as keras

from tfrobust.layers import MaskedDense


def small_masked_model(seed=0, bn=True):
    """6x6x1 -> flatten -> MaskedDense(12, relu, random bias) [-> BatchNorm] -> MaskedDense(10), with
    about half of the first kernel pruned."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Flatten()(inputs)
    x = MaskedDense(12, activation="relu", kernel_initializer=init, name="hidden",
                    bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed + 1))(x)
    if bn:
        x = keras.layers.BatchNormalization(name="bn")(x)
    logits = MaskedDense(10, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2), name="out",
                         bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed + 3))(x)
    model = keras.Model(inputs, logits)
    layer = model.get_layer("hidden")
    mask = (np.random.default_rng(seed).uniform(size=layer.kernel.shape) < 0.5).astype(np.float32)
    layer.set_mask(mask)
    if bn:  # non-trivial batch-norm statistics and scales
        bn_layer = model.get_layer("bn")
        bn_layer.set_weights([np.full(12, 1.5, np.float32), np.full(12, 0.1, np.float32),
                              np.full(12, 0.2, np.float32), np.full(12, 2.0, np.float32)])
    return model


def snapshot(model):
    return [v.numpy().copy() for v in model.variables]


def unchanged(model, before):
    return all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))
