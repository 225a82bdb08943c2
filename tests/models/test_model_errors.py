"""Bad arguments to models.build_model: one row per call, each a ConfigError naming the argument,
its value and what is allowed (never a TypeError or a TensorFlow error from inside Keras)."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust import models
from tfrobust.errors import ConfigError

SHAPE = (28, 28, 1)

ROWS = [
    # the model's name
    (("vgg", SHAPE, 10), {}, r"unknown model 'vgg'; known: caffe-lenet, dense-300-100, lenet, resnet18"),
    ((3, SHAPE, 10), {}, r"model name 3 is not allowed; allowed: one of caffe-lenet, dense-300-100"),
    ((["lenet"], SHAPE, 10), {}, r"model name \['lenet'\] is not allowed"),
    # input_shape
    (("lenet", 28, 10), {}, r"input_shape=28 is not allowed; allowed: \(height, width, channels\), three integers >= 1"),
    (("lenet", None, 10), {}, r"input_shape=None is not allowed"),
    (("lenet", "28x28x1", 10), {}, r"input_shape='28x28x1' is not allowed"),
    (("lenet", (28, "a", 1), 10), {}, r"input_shape=\(28, 'a', 1\) is not allowed"),
    (("lenet", (28, 28.5, 1), 10), {}, r"input_shape=\(28, 28\.5, 1\) is not allowed"),
    (("lenet", (28, None, 1), 10), {}, r"input_shape=\(28, None, 1\) is not allowed"),
    (("lenet", (28, 0, 1), 10), {}, r"input_shape=\(28, 0, 1\) is not allowed"),
    (("caffe-lenet", (2, 2, 1), 10), {}, r"model 'caffe-lenet' cannot be built for inputs of shape \(2, 2, 1\)"),
    # num_classes
    (("lenet", SHAPE, 1), {}, r"num_classes=1 is not allowed; allowed: an integer >= 2"),
    (("lenet", SHAPE, "10"), {}, r"num_classes='10' is not allowed; allowed: an integer >= 2"),
    (("lenet", SHAPE, 2.5), {}, r"num_classes=2\.5 is not allowed"),
    (("lenet", SHAPE, None), {}, r"num_classes=None is not allowed"),
    # seed
    (("lenet", SHAPE, 10), {"seed": -1}, r"seed=-1 is not allowed; allowed: an integer >= 0"),
    (("lenet", SHAPE, 10), {"seed": 1.5}, r"seed=1\.5 is not allowed"),
    (("lenet", SHAPE, 10), {"seed": "a"}, r"seed='a' is not allowed"),
    # the models' own options
    (("lenet", SHAPE, 10), {"width": "a"}, r"model 'lenet': width='a' is not allowed; width must be a positive integer"),
    (("lenet", SHAPE, 10), {"width": 2.5}, r"model 'lenet': width=2\.5 is not allowed"),
    (("lenet", SHAPE, 10), {"width": True}, r"model 'lenet': width=True is not allowed"),
    (("resnet18", (32, 32, 3), 10), {"width": 2.5},
     r"model 'resnet18': width=2\.5 is not allowed; width must be a positive integer"),
    (("resnet18", (32, 32, 3), 10), {"width": 0}, r"model 'resnet18': width=0 is not allowed"),
    (("dense-300-100", SHAPE, 10), {"hidden": 300},
     r"model 'dense-300-100': hidden=300 is not allowed; hidden must be a tuple of layer sizes "
     r"\(hidden layer sizes must be positive integers\)"),
    (("dense-300-100", SHAPE, 10), {"hidden": (True,)}, r"hidden=\(True,\) is not allowed"),
    (("dense-300-100", SHAPE, 10), {"use_bias": "yes"},
     r"model 'dense-300-100': use_bias='yes' is not allowed; use_bias must be true or false"),
    (("lenet", SHAPE, 10), {"depth": 3}, r"model 'lenet' takes no option 'depth'; its options: input_shape"),
]


@pytest.mark.parametrize("args,kwargs,message", ROWS, ids=[f"row{i}" for i in range(len(ROWS))])
def test_bad_build_model_call_raises_config_error(args, kwargs, message):
    with pytest.raises(ConfigError, match=message) as info:
        models.build_model(*args, **kwargs)
    assert type(info.value) is ConfigError


def _weights(model):
    return [w.numpy() for w in model.trainable_variables]


def test_seeds_beyond_int64_after_scaling_give_repeatable_distinct_weights():
    """The per-layer seed is seed * 1000 + layer; a seed whose product leaves int64 still builds."""
    a, b, c = (models.build_model("dense-300-100", (4, 4, 1), 10, seed=s, hidden=(8,))
               for s in (2 ** 62, 2 ** 62, 2 ** 62 + 1))
    for wa, wb, wc in zip(_weights(a), _weights(b), _weights(c)):
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)


def test_accepted_spellings_build_the_same_model():
    """TensorShape and NumPy integers are accepted and give the same weights as plain ints."""
    plain = models.build_model("lenet", (8, 8, 1), 10, seed=2, width=1)
    numpy = models.build_model("lenet", tf.TensorShape([8, 8, 1]), np.int64(10), seed=np.int64(2), width=np.int64(1))
    assert numpy.input_shape == (None, 8, 8, 1) and numpy.output_shape == (None, 10)
    for wa, wb in zip(_weights(plain), _weights(numpy)):
        np.testing.assert_array_equal(wa, wb)
