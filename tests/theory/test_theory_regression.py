"""Robust regression solvers against brute force: closed-form inner max, grids, least squares."""
import itertools

import numpy as np
import pytest

from tfrobust.errors import ConfigError
from tfrobust.theory import regression as R


def objective(x, y, w, eps):
    """F(w) for many w at once: x [n, d], y [n], w [..., d]."""
    resid = np.abs(y - np.einsum("nd,...d->...n", x, w))
    return ((resid + eps * np.abs(w).sum(-1)[..., None]) ** 2).mean(-1)


def test_closed_form_inner_max_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=6)
    vertices = np.array(list(itertools.product([-1.0, 1.0], repeat=3)))
    for eps in (0.0, 0.2, 1.3):
        w = rng.normal(size=3)
        brute = ((y[:, None] - (x[:, None, :] + eps * vertices[None]) @ w) ** 2).max(1).mean()
        assert R.robust_objective(x, y, w, eps).numpy() == pytest.approx(brute, rel=1e-12)


def _problems(seed, batch, n, d):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, n, d))
    y = x.sum(-1) + rng.normal(size=(batch, n))
    return x, y


def test_exact_1d_solver_beats_a_fine_grid():
    x, y = _problems(1, 40, 7, 1)
    eps = np.array([0.0, 0.05, 0.3, 1.0, 2.5])
    w = R.solve_robust_exact_1d(x, y, eps).numpy()  # [E, B, 1]
    for e, value in enumerate(eps):
        for b in range(len(x)):
            reach = max(4.0, 2.0 * abs(w[e, b, 0]) + 1.0)
            grid = np.linspace(-reach, reach, 20001)[:, None]
            best = objective(x[b], y[b], w[e, b], value)
            on_grid = objective(x[b], y[b], grid, value)
            assert best <= on_grid.min() + 1e-12
            assert on_grid.min() - best < 1e-3 * (1.0 + best)  # the grid's best is next to it


def test_newton_solver_beats_a_2d_grid_and_matches_exact_in_1d():
    x, y = _problems(2, 12, 6, 2)
    eps = np.array([0.1, 0.6])
    w = R.solve_robust_newton(x, y, eps).numpy()  # [E, B, 2]
    g = np.linspace(-3, 3, 301)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    for e, value in enumerate(eps):
        for b in range(len(x)):
            assert objective(x[b], y[b], w[e, b], value) <= objective(x[b], y[b], grid, value).min() + 1e-9

    x1, y1 = _problems(3, 30, 9, 1)
    eps1 = np.array([0.0, 0.2, 0.9])
    exact = R.solve_robust_exact_1d(x1, y1, eps1).numpy()
    newton = R.solve_robust_newton(x1, y1, eps1).numpy()
    for e, value in enumerate(eps1):
        for b in range(len(x1)):
            fe = objective(x1[b], y1[b], exact[e, b], value)
            fn = objective(x1[b], y1[b], newton[e, b], value)
            assert fn == pytest.approx(fe, abs=1e-9)
    np.testing.assert_allclose(newton, exact, atol=1e-6)


@pytest.mark.parametrize("solver", ["exact1d", "newton"])
def test_eps_zero_gives_least_squares(solver):
    x, y = _problems(4, 25, 8, 1)
    ols = R.least_squares(x, y).numpy()
    np.testing.assert_allclose(ols[..., 0], (x[..., 0] * y).sum(-1) / (x[..., 0] ** 2).sum(-1), rtol=1e-12)
    robust = R.solve_robust(x, y, [0.0], solver=solver).numpy()[0]
    np.testing.assert_allclose(robust, ols, rtol=1e-9, atol=1e-12)


def test_newton_eps_zero_gives_least_squares_in_3d():
    x, y = _problems(5, 10, 8, 3)
    ols = np.stack([np.linalg.lstsq(x[b], y[b], rcond=None)[0] for b in range(len(x))])
    np.testing.assert_allclose(R.least_squares(x, y).numpy(), ols, atol=1e-10)
    np.testing.assert_allclose(R.solve_robust_newton(x, y, [0.0]).numpy()[0], ols, atol=1e-8)


def test_mask_is_the_same_as_dropping_the_points():
    x, y = _problems(6, 8, 10, 1)
    mask = np.zeros((8, 10))
    mask[:, :6] = 1.0
    x_pad = np.where(mask[..., None] > 0, x, 123.0)  # garbage in the padding must not matter
    eps = np.array([0.0, 0.4])
    padded = R.solve_robust_exact_1d(x_pad, y, eps, mask).numpy()
    np.testing.assert_allclose(padded, R.solve_robust_exact_1d(x[:, :6], y[:, :6], eps).numpy(), atol=1e-12)
    np.testing.assert_allclose(R.least_squares(x_pad, y, mask).numpy(),
                               R.least_squares(x[:, :6], y[:, :6]).numpy(), atol=1e-12)


def test_large_eps_gives_zero_and_one_point_gives_interpolation():
    x, y = _problems(7, 10, 5, 1)
    # eps * sum|y| >= |sum x y| makes w = 0 optimal (the right derivative at 0 is >= 0)
    np.testing.assert_array_equal(R.solve_robust_exact_1d(x, y, [50.0]).numpy(), 0.0)
    # one point with |x| > eps: w = y / x (zero residual, cheaper than any shrinkage)
    x1 = np.array([[[2.0]], [[-3.0]]])
    y1 = np.array([[1.0], [6.0]])
    np.testing.assert_allclose(R.solve_robust_exact_1d(x1, y1, [0.5]).numpy()[0, :, 0], [0.5, -2.0])


def test_unknown_solver_is_a_config_error():
    x, y = _problems(8, 2, 3, 2)
    with pytest.raises(ConfigError, match="solver='cvx' is not allowed; allowed: auto, exact1d, newton"):
        R.solve_robust(x, y, [0.1], solver="cvx")
    with pytest.raises(ConfigError, match="needs dim=1"):
        R.solve_robust(x, y, [0.1], solver="exact1d")
