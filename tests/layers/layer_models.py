"""Small masked models and random masks shared by the layer tests."""
import numpy as np
import tf_keras as keras

from tfrobust.layers import MaskedConv2D, MaskedDense, get_masks


def small_convnet(seed=0, **conv_options):
    """conv (4 filters, 3x3) on 8x8x2 inputs, then fc (5 units); ``conv_options`` go to the conv."""
    inputs = keras.Input((8, 8, 2))
    x = MaskedConv2D(4, 3, name="conv", kernel_initializer=keras.initializers.GlorotUniform(seed),
                     **conv_options)(inputs)
    x = keras.layers.Flatten()(x)
    x = MaskedDense(5, name="fc", kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(x)
    return keras.Model(inputs, x)


def random_masks(model, keep=0.5, seed=0):
    rng = np.random.default_rng(seed)
    return {name: (rng.random(m.shape) < keep).astype(np.float32) for name, m in get_masks(model).items()}
