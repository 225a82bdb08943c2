"""Shared test set-up: quiet TensorFlow logs, deterministic seeds."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so that MirroredStrategy can be tested on one CPU. This must happen
# before TensorFlow initialises its devices, hence here, at the top of the test session.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(_cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(0)
    tf.random.set_seed(0)
    yield


@pytest.fixture(scope="session")
def synthetic_splits():
    """Small learnable 10x10 grey images, 10 classes."""
    from tfrobust import data

    return data.load("synthetic", batch_size=50, image_shape=(10, 10, 1), train_size=2000,
                     test_size=300, noise_std=0.6, seed=0)


@pytest.fixture(scope="session")
def trained_model(synthetic_splits):
    """dense-300-100 trained naturally for 300 steps on ``synthetic_splits``: well above chance."""
    import tf_keras as keras

    from tfrobust import models

    tf.random.set_seed(1)
    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=1)
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(synthetic_splits.train.repeat(), steps_per_epoch=300, epochs=1, verbose=0)
    return model


@pytest.fixture(scope="session")
def test_batch(synthetic_splits):
    x, y = next(iter(synthetic_splits.test.unbatch().batch(300)))
    return x, y


def pytest_configure(config):
    # keras-tuner 1.4.8 calls threading.currentThread().getName(), deprecated since Python 3.10.
    # tensorflow-model-optimization 0.8 compares versions with distutils.
    for message in (r"currentThread\(\) is deprecated", r"getName\(\) is deprecated",
                    r"distutils Version classes are deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
    # TFLite's converter on a quantization-aware model without representative data: expected.
    config.addinivalue_line("filterwarnings", "ignore:Statistics for quantized inputs were expected:UserWarning")
