"""Hessian-vector products against the explicit Hessian, and eigsh's extreme eigenvalues."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks import from_spec, per_example_loss
from tfrobust.errors import ConfigError
from tfrobust.flatness import extreme_eigenvalues, hessian_vector_product, perturbable
from tfrobust.layers import MaskedDense


@pytest.fixture(scope="module")
def tiny():
    """4 -> MaskedDense(5, tanh) -> MaskedDense(3): 43 weights, 6 of the first kernel pruned."""
    inputs = keras.Input((4,))
    h = MaskedDense(5, activation="tanh", name="h", kernel_initializer=keras.initializers.GlorotNormal(seed=1),
                    bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=2))(inputs)
    out = MaskedDense(3, name="o", kernel_initializer=keras.initializers.GlorotNormal(seed=3),
                      bias_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=4))(h)
    model = keras.Model(inputs, out)
    mask = np.ones((4, 5), np.float32)
    mask.reshape(-1)[[0, 3, 7, 11, 12, 19]] = 0
    model.get_layer("h").set_mask(mask)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(16, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    return model, x, y


def explicit_hessian(model, x, y):
    """The Hessian of the mean cross-entropy by the Jacobian of the gradient, restricted to the
    masks' support."""
    variables = [e.variable for e in perturbable(model)]
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = tf.reduce_mean(per_example_loss(model(x, training=False), tf.constant(y, tf.int64)))
        flat = tf.concat([tf.reshape(g, [-1]) for g in inner.gradient(loss, variables)], 0)
    jac = outer.jacobian(flat, variables)
    n = int(flat.shape[0])
    hessian = np.concatenate([j.numpy().reshape(n, -1) for j in jac], axis=1).astype(np.float64)
    support = np.concatenate([np.ones(int(np.prod(e.variable.shape))) if e.mask is None
                              else e.mask.numpy().reshape(-1) for e in perturbable(model)])
    keep = np.flatnonzero(support)
    return hessian[np.ix_(keep, keep)]


@pytest.mark.parametrize("robust", [False, True])
def test_hvp_agrees_with_the_explicit_hessian(tiny, robust):
    model, x, y = tiny
    attack = from_spec("pgd:eps=0.2,step_size=0.1,steps=3") if robust else None
    op = hessian_vector_product(model, x, y, attack=attack, batch_size=5, seed=7)
    at = x
    if robust:  # fixed adversarial examples at w: example i attacked with the seed [7, i]
        seeds = tf.stack([tf.fill([16], tf.constant(7, tf.int64)), tf.range(16, dtype=tf.int64)], 1)
        at = attack(model, x, y, seed=seeds).numpy()
        assert not np.allclose(at, x)
    hessian = explicit_hessian(model, at, y)
    assert op.size == 43 - 6 == hessian.shape[0]
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.normal(size=op.size)
        np.testing.assert_allclose(op(v), hessian @ v, atol=1e-4 * max(1.0, np.abs(hessian).max()))
    identity = np.stack([op(e) for e in np.eye(op.size)], axis=1)
    np.testing.assert_allclose(identity, hessian, atol=1e-4)
    assert op.products == 3 + op.size


def test_eigsh_finds_the_explicit_extreme_eigenvalues(tiny):
    model, x, y = tiny
    hessian = explicit_hessian(model, x, y)
    exact = np.linalg.eigvalsh((hessian + hessian.T) / 2)
    result = extreme_eigenvalues(model, x, y, k=2, tol=0)
    assert result.max == pytest.approx(exact[-1], rel=1e-4, abs=1e-5)
    assert result.min == pytest.approx(exact[0], rel=1e-4, abs=1e-5)
    np.testing.assert_allclose(result.largest, exact[::-1][:2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result.smallest, exact[:2], rtol=1e-4, atol=1e-5)
    assert result.min < 0 < result.max and result.size == 37 and result.products > 0
    again = extreme_eigenvalues(model, x, y, k=2, tol=0)
    assert again == result  # seeded start vector: repeatable


@pytest.mark.parametrize("kwargs, name", [({"k": 37}, "k"), ({"k": 0}, "k"), ({"tol": -1.0}, "tol"),
                                          ({"maxiter": 0}, "maxiter"), ({"attack": 3}, "attack"),
                                          ({"batch_size": 0}, "batch_size")])
def test_bad_arguments_name_the_argument(tiny, kwargs, name):
    model, x, y = tiny
    with pytest.raises(ConfigError, match=rf"^{name}="):
        extreme_eigenvalues(model, x, y, **kwargs)
