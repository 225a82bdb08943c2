import numpy as np
import pytest
import tensorflow as tf

from tfrobust import models
from tfrobust.errors import ConfigError
from tfrobust.layers import count_weights, masked_layers


def kernel_sizes(model):
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables if "kernel" in v.name)


@pytest.mark.parametrize("name,shape,options,weights", [
    ("dense-300-100", (28, 28, 1), {}, 784 * 300 + 300 * 100 + 100 * 10),
    ("lenet", (28, 28, 1), {"width": 1}, 25 * 2 + 25 * 2 * 4 + 196 * 64 + 64 * 10),
    ("lenet", (28, 28, 1), {"width": 16}, 3_273_504),
    ("caffe-lenet", (28, 28, 1), {}, 430_500),
])
def test_weight_counts_match_the_papers(name, shape, options, weights):
    model = models.build_model(name, shape, 10, **options)
    assert count_weights(model)["total"]["total"] == weights
    assert kernel_sizes(model) == weights  # every kernel is masked
    assert model(tf.zeros((2,) + shape)).shape == (2, 10)


def test_dense_300_100_has_no_biases_and_the_documents_layer_names():
    model = models.build_model("dense-300-100", (28, 28, 1), 10)
    assert [l.name for l in masked_layers(model)] == ["hidden_1", "hidden_2", "output"]
    assert model.count_params() == 532_400  # kernels + masks, as in the document's summary
    assert not any("bias" in v.name for v in model.variables)


def test_lenet16_is_the_3_27m_benchmark_network():
    model = models.build_model("lenet", (28, 28, 1), 10, width=16)
    fc1 = model.get_layer("fc_1")
    assert tuple(fc1.kernel.shape) == (196 * 16, 64 * 16)


def test_resnet18_for_cifar10():
    model = models.build_model("resnet18", (32, 32, 3), 10)
    assert model(tf.zeros((1, 32, 32, 3))).shape == (1, 10)
    assert 11.1e6 < count_weights(model)["total"]["total"] < 11.2e6
    assert kernel_sizes(model) == count_weights(model)["total"]["total"]
    assert len(masked_layers(model)) == 21  # 17 3x3 convs + 3 shortcuts + classifier


def test_same_seed_same_weights_different_seed_different_weights():
    a = models.build_model("lenet", (28, 28, 1), 10, seed=3, width=2)
    b = models.build_model("lenet", (28, 28, 1), 10, seed=3, width=2)
    c = models.build_model("lenet", (28, 28, 1), 10, seed=4, width=2)
    for va, vb, vc in zip(a.trainable_variables, b.trainable_variables, c.trainable_variables):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
        if "kernel" in va.name:
            assert not np.array_equal(va.numpy(), vc.numpy())


def test_bad_model_requests_fail_clearly():
    with pytest.raises(ConfigError, match="unknown model 'vgg'; known: caffe-lenet, dense-300-100, lenet, resnet18"):
        models.build_model("vgg", (28, 28, 1), 10)
    with pytest.raises(ConfigError, match="no option 'depth'"):
        models.build_model("lenet", (28, 28, 1), 10, depth=3)
    with pytest.raises(ConfigError, match="width must be a positive integer"):
        models.build_model("lenet", (28, 28, 1), 10, width=0)
    with pytest.raises(ConfigError, match="input_shape"):
        models.build_model("lenet", (28, 28), 10)
