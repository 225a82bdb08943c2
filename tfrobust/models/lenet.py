"""LeNets: the width-scaled LeNet of the ADMM paper (seed 000, Table 1) and ATMC's Caffe LeNet."""
from __future__ import annotations

import tf_keras as keras

from tfrobust.layers import MaskedConv2D, MaskedDense
from tfrobust.models.registry import MODELS, check_option, initializer, positive_int


def _convnet(name, input_shape, num_classes, seed, convs, fcs, padding):
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for i, filters in enumerate(convs):
        x = MaskedConv2D(
            filters, 5, padding=padding, activation="relu",
            kernel_initializer=initializer(seed, i), name=f"conv_{i + 1}",
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for j, units in enumerate(fcs):
        x = MaskedDense(
            units, activation="relu", kernel_initializer=initializer(seed, len(convs) + j),
            name=f"fc_{j + 1}",
        )(x)
    logits = MaskedDense(
        num_classes, kernel_initializer=initializer(seed, len(convs) + len(fcs)),
        name=f"fc_{len(fcs) + 1}",
    )(x)
    return keras.Model(inputs, logits, name=name)


@MODELS.register("lenet")
def lenet(input_shape, num_classes, seed=0, width=1):
    """conv 2ω, conv 4ω (5x5, 'same', each followed by 2x2 max-pooling), FC 196ω->64ω, FC 64ω->10.

    On 28x28 inputs the first FC layer sees 7*7*4ω = 196ω features. ω=16 is the usual 3.27M-weight
    MNIST attack-benchmark network.
    """
    check_option("lenet", "width", width, positive_int(width), "a positive integer")
    width = int(width)
    return _convnet(
        f"lenet_w{width}", input_shape, num_classes, seed, (2 * width, 4 * width), (64 * width,), "same"
    )


@MODELS.register("caffe-lenet")
def caffe_lenet(input_shape, num_classes, seed=0):
    """ATMC's MNIST network: conv 20, conv 50 (5x5, 'valid', 2x2 pooling), FC 500, FC 10 (~430K)."""
    return _convnet("caffe_lenet", input_shape, num_classes, seed, (20, 50), (500,), "valid")
