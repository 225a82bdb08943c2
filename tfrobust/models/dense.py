"""``dense-300-100``: the fully connected network of the lottery-ticket document (seed 003).

784-300-100-10, ReLU hidden layers, no biases; outputs logits (the paper's softmax is folded into
the loss).
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.layers import MaskedDense
from tfrobust.models.registry import MODELS, check_option, initializer, positive_int


@MODELS.register("dense-300-100")
def dense_300_100(input_shape, num_classes, seed=0, hidden=(300, 100), use_bias=False):
    check_option("dense-300-100", "hidden", hidden,
                 isinstance(hidden, (tuple, list)) and all(positive_int(units) for units in hidden),
                 "a tuple of layer sizes (hidden layer sizes must be positive integers)")
    check_option("dense-300-100", "use_bias", use_bias, isinstance(use_bias, bool), "true or false")
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden):
        x = MaskedDense(
            int(units), activation="relu", use_bias=use_bias,
            kernel_initializer=initializer(seed, i), name=f"hidden_{i + 1}",
        )(x)
    logits = MaskedDense(
        num_classes, use_bias=use_bias, kernel_initializer=initializer(seed, len(hidden)),
        name="output",
    )(x)
    return keras.Model(inputs, logits, name="dense_300_100")
