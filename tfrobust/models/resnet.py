"""ResNet-18 for CIFAR-10 (3x3 stem, no stem pooling), with masked convolutions and classifier."""
from __future__ import annotations

import tf_keras as keras

from tfrobust.layers import MaskedConv2D, MaskedDense
from tfrobust.models.registry import MODELS, check_option, initializer, positive_int


class _Builder:
    """Numbers the layers so that each gets its own seeded initializer and a readable name."""

    def __init__(self, seed):
        self.seed, self.index = seed, 0

    def conv(self, x, filters, kernel, stride, name):
        self.index += 1
        return MaskedConv2D(
            filters, kernel, strides=stride, padding="same", use_bias=False,
            kernel_initializer=initializer(self.seed, self.index, "he_normal"), name=name,
        )(x)

    @staticmethod
    def bn(x, name):
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)(x)

    def block(self, x, filters, stride, name):
        shortcut = x
        y = self.conv(x, filters, 3, stride, f"{name}_conv_1")
        y = keras.layers.ReLU(name=f"{name}_relu_1")(self.bn(y, f"{name}_bn_1"))
        y = self.bn(self.conv(y, filters, 3, 1, f"{name}_conv_2"), f"{name}_bn_2")
        if stride != 1 or x.shape[-1] != filters:
            shortcut = self.bn(self.conv(x, filters, 1, stride, f"{name}_shortcut"), f"{name}_shortcut_bn")
        return keras.layers.ReLU(name=f"{name}_out")(keras.layers.Add(name=f"{name}_add")([y, shortcut]))


@MODELS.register("resnet18")
def resnet18(input_shape, num_classes, seed=0, width=64):
    """Four stages of two basic blocks with ``width``, 2, 4 and 8 times ``width`` filters."""
    check_option("resnet18", "width", width, positive_int(width), "a positive integer")
    width = int(width)
    b = _Builder(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.ReLU(name="stem_relu")(b.bn(b.conv(inputs, width, 3, 1, "stem_conv"), "stem_bn"))
    for stage, mult in enumerate((1, 2, 4, 8)):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            x = b.block(x, width * mult, stride, f"stage{stage + 1}_block{block + 1}")
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = MaskedDense(num_classes, kernel_initializer=initializer(seed, b.index + 1), name="fc")(x)
    return keras.Model(inputs, logits, name="resnet18")
