"""The meta-gradient through the unrolled inner loop: finite differences, checkpointing, positivity."""
import numpy as np
import pytest
import tensorflow as tf

from gtn_helpers import problem
from tfrobust.gtn import inner
from tfrobust.gtn.generator import Generator
from tfrobust.gtn.learners import make_learner


def _start(spec="conv:width=3,layers=2", classes=3):
    arch = make_learner(spec)
    return arch, inner.start_state(*arch.init([4, 5], (8, 8, 1), classes))


def _directional_fd(f, x, direction, eps):
    return (float(f(x + eps * direction)) - float(f(x - eps * direction))) / (2 * eps)


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("spec", ["linear", "mlp:width=5"])
def test_meta_gradient_agrees_with_finite_differences(spec, every_step):
    """A tiny generator and learner: the gradient w.r.t. the learned rates, the inner batches and a
    generator weight, against central differences along random directions (float32, so the
    tolerance is a few per cent of the derivative).

    Deeper LeakyReLU learners are left out: their inner gradient is piecewise constant in the
    activation pattern, so the loss after a few steps jumps where a pattern flips, and a finite
    difference across a flip measures the jump, not the derivative (seen with the conv learner).
    Their meta-gradient is the same code; the checkpointing test covers them."""
    arch, state = _start(spec)
    xs, ys, rx, ry, log_lr, log_mom = problem()
    loss, g_xs, g_lr, g_mom = inner.meta_gradient(arch, state, xs, ys, log_lr, log_mom, rx, ry,
                                                  every_step=every_step, checkpointing=True)

    def loss_of(xs_=xs, lr_=log_lr, mom_=log_mom):
        return inner.unrolled_loss(arch, state, xs_, ys, lr_, mom_, rx, ry, every_step)

    assert float(loss) == pytest.approx(float(loss_of()), rel=1e-6)
    rng = np.random.default_rng(0)
    for grad, arg, eps in ((g_lr, "lr_", 3e-3), (g_mom, "mom_", 3e-3), (g_xs, "xs_", 3e-2)):
        base = {"lr_": log_lr, "mom_": log_mom, "xs_": xs}[arg]
        u = tf.constant(rng.standard_normal(base.shape).astype(np.float32))
        u = u / tf.norm(u)
        fd = _directional_fd(lambda v: loss_of(**{arg: v}), base, u, eps)
        exact = float(tf.reduce_sum(grad * u))
        assert abs(exact) > 1e-4, "the test needs a direction the loss depends on"
        assert fd == pytest.approx(exact, rel=0.05, abs=1e-4), arg

    if spec != "linear":
        return  # the generator's larger step crosses the MLP's activation flips (see above)
    # through the generator: d loss / d (one weight matrix) along a random direction
    gen = Generator((8, 8, 1), 3, seed=[0, 1], noise_dim=4, hidden=8, channels=4)
    noise = tf.random.stateless_normal([4, 6, 4], [1, 2])
    weight = gen.layers["dense_2"]["v"]
    with tf.GradientTape() as tape:
        images = gen(noise, ys)
    _, g_images, _, _ = inner.meta_gradient(arch, state, images, ys, log_lr, log_mom, rx, ry, every_step=every_step)
    g_weight = tape.gradient(images, weight, output_gradients=g_images)
    u = tf.constant(rng.standard_normal(weight.shape).astype(np.float32))
    u = u / tf.norm(u)
    original = weight.numpy()

    def loss_at(w):
        weight.assign(w)
        return loss_of(xs_=gen(noise, ys))

    fd = _directional_fd(loss_at, tf.constant(original), u, 3e-2)
    weight.assign(original)
    exact = float(tf.reduce_sum(g_weight * u))
    assert abs(exact) > 1e-5
    assert fd == pytest.approx(exact, rel=0.05, abs=2e-5)


@pytest.mark.parametrize("every_step", [False, True])
@pytest.mark.parametrize("spec", ["conv:width=3,layers=2", "mlp:width=5", "linear"])
def test_checkpointing_gives_the_same_meta_gradient(spec, every_step):
    """Recomputing each step in the backward pass gives the one-tape gradient: the same compiled
    step, so equal up to float summation order (measured: at most ~1e-9 absolute)."""
    arch, state = _start(spec)
    xs, ys, rx, ry, log_lr, log_mom = problem(T=6)
    full = inner.meta_gradient(arch, state, xs, ys, log_lr, log_mom, rx, ry, every_step, checkpointing=False)
    ckpt = inner.meta_gradient(arch, state, xs, ys, log_lr, log_mom, rx, ry, every_step, checkpointing=True)
    for a, b in zip(full, ckpt):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-8)


def test_extreme_learned_logs_give_finite_gradients():
    arch, state = _start()
    xs, ys, rx, ry, _, _ = problem(T=3)
    log_lr = tf.constant([-40.0, 0.0, 3.0])
    log_mom = tf.constant([-40.0, -1.0, 0.5])
    loss, _, g_lr, g_mom = inner.meta_gradient(arch, state, xs, ys, log_lr, log_mom, rx, ry)
    assert np.isfinite(loss.numpy()) and np.all(np.isfinite(g_lr.numpy())) and np.all(np.isfinite(g_mom.numpy()))
