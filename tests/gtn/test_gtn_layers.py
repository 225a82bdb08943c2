"""The GTN's functional layers and learners: weight normalisation, mean-only batch norm, running
means, widths, and the generator's per-step batch statistics."""
import numpy as np
import pytest
import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.gtn import functional as F
from tfrobust.gtn.generator import Generator
from tfrobust.gtn.learners import MEAN_DECAY, make_learner, update_means


def test_weight_norm_starts_at_v_and_ignores_the_scale_of_v():
    w = F.init_conv(3, 5, [1, 2])
    np.testing.assert_allclose(F.normalized(w).numpy(), w["v"].numpy(), rtol=1e-5, atol=1e-7)
    scaled = dict(w, v=w["v"] * 7.0)
    np.testing.assert_allclose(F.normalized(scaled).numpy(), F.normalized(w).numpy(), rtol=1e-5, atol=1e-7)
    norms = np.sqrt((F.normalized(w).numpy() ** 2).sum(axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, w["g"].numpy(), rtol=1e-5)


@pytest.mark.parametrize("spec", ["mlp:width=6,layers=2", "conv:width=3,layers=2"])
def test_mean_only_batch_norm_centres_each_channel_on_its_bias(spec):
    arch = make_learner(spec)
    params, means = arch.init([0, 1], (8, 8, 1), 4)
    params["hidden_0"]["b"] = tf.constant(np.arange(params["hidden_0"]["b"].shape[0], dtype=np.float32))
    x = tf.random.stateless_uniform([16, 8, 8, 1], [2, 3])
    _, batch_means = arch.apply(params, means, x, training=True)
    pre = arch._hidden(params["hidden_0"], x)
    np.testing.assert_allclose(batch_means[0].numpy(), F.batch_mean(pre).numpy(), rtol=1e-5, atol=1e-6)
    centred = pre - batch_means[0] + params["hidden_0"]["b"]
    np.testing.assert_allclose(F.batch_mean(centred).numpy(), params["hidden_0"]["b"].numpy(), atol=1e-5)


def test_inference_uses_the_running_means_not_the_batch():
    arch = make_learner("conv:width=3,layers=1")
    params, _ = arch.init([0, 1], (8, 8, 1), 4)
    x = tf.random.stateless_uniform([10, 8, 8, 1], [2, 3])
    means = [tf.fill([3], 0.25)]
    alone = arch.apply(params, means, x[:1], training=False)[0]
    together = arch.apply(params, means, x, training=False)[0][:1]
    np.testing.assert_allclose(alone.numpy(), together.numpy(), rtol=1e-5, atol=1e-6)
    train_alone = arch.apply(params, means, x[:1], training=True)[0]
    assert not np.allclose(train_alone.numpy(), together.numpy(), atol=1e-3)


def test_running_means_start_at_the_first_batch_then_decay():
    m, b = [tf.constant([5.0])], [tf.constant([1.0])]
    assert update_means(m, b, tf.constant(True))[0].numpy()[0] == 1.0
    assert update_means(m, b, tf.constant(False))[0].numpy()[0] == pytest.approx(MEAN_DECAY * 5 + (1 - MEAN_DECAY))


def test_learner_shapes_and_random_widths():
    arch = make_learner("conv:width=8,layers=2,random_width=true")
    assert arch.widths() == [4, 6, 8]
    drawn = {arch.sample([k, 0]).width for k in range(30)}
    assert drawn == {4, 6, 8}
    assert arch.sample([3, 0]) == arch.sample([3, 0])
    fixed = arch.sample([3, 0])
    params, means = fixed.init([0, 0], (28, 28, 1), 10)
    assert params["hidden_1"]["v"].shape == (3, 3, fixed.width, 2 * fixed.width)
    assert params["out"]["v"].shape == (7 * 7 * 2 * fixed.width, 10)
    logits, _ = fixed.apply(params, means, tf.zeros([2, 28, 28, 1]), training=True)
    assert logits.shape == (2, 10)
    linear = make_learner("linear")
    params, means = linear.init([0, 0], (28, 28, 1), 10)
    assert list(params) == ["out"] and means == []


def test_bad_learner_specs_fail_clearly():
    with pytest.raises(ConfigError, match="unknown learner 'vgg'"):
        make_learner("vgg")
    with pytest.raises(ConfigError, match="layers=0 must be an integer >= 1"):
        make_learner("conv:layers=0")


def test_generator_normalises_each_step_on_its_own():
    gen = Generator((8, 8, 1), 3, seed=[0, 1], noise_dim=4, hidden=8, channels=4)
    noise = tf.random.stateless_normal([3, 6, 4], [1, 2])
    labels = tf.constant(np.arange(18).reshape(3, 6) % 3)
    together = gen(noise, labels)
    assert together.shape == (3, 6, 8, 8, 1)
    assert float(tf.reduce_min(together)) >= 0.0 and float(tf.reduce_max(together)) <= 1.0
    for t in range(3):
        alone = gen(noise[t:t + 1], labels[t:t + 1])[0]
        np.testing.assert_allclose(alone.numpy(), together[t].numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match="multiples of 4"):
        Generator((10, 10, 1), 3, seed=[0, 1])
