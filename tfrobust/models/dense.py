"""``dense-300-100``: the fully connected network of the lottery-ticket document (seed 003).

784-300-100-10, ReLU hidden layers, no biases; outputs logits (the paper's softmax is folded into
the loss).
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers import MaskedDense
from tfrobust.models.registry import MODELS, initializer


@MODELS.register("dense-300-100")
def dense_300_100(input_shape, num_classes, seed=0, hidden=(300, 100), use_bias=False):
    if not all(isinstance(units, int) and units >= 1 for units in hidden):
        raise ConfigError(f"dense-300-100 hidden layer sizes must be positive integers; got {hidden!r}")
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden):
        x = MaskedDense(
            units, activation="relu", use_bias=use_bias,
            kernel_initializer=initializer(seed, i), name=f"hidden_{i + 1}",
        )(x)
    logits = MaskedDense(
        num_classes, use_bias=use_bias, kernel_initializer=initializer(seed, len(hidden)),
        name="output",
    )(x)
    return keras.Model(inputs, logits, name="dense_300_100")
