r"""Standard and eps-robust empirical risk minimizers for linear regression with squared loss.

Against an :math:`\ell_\infty` adversary the robust loss of one point has a closed form:
:math:`\max_{\|\delta\|_\infty\le\varepsilon}(y - \langle w, x+\delta\rangle)^2
= (|y - \langle w, x\rangle| + \varepsilon\|w\|_1)^2`, since :math:`\langle w,\delta\rangle` sweeps
:math:`[-\varepsilon\|w\|_1, \varepsilon\|w\|_1]`. The robust ERM minimises the convex function

.. math:: F(w) = \frac1n\sum_i \left(|y_i - \langle w, x_i\rangle| + \varepsilon\|w\|_1\right)^2

(the square of a non-negative convex function is convex). It has no closed form; two solvers:

* :func:`solve_robust_exact_1d` (``d = 1``): :math:`F` is a convex piecewise quadratic with kinks at
  :math:`w = y_i/x_i` and :math:`w = 0`. Sorting the kinks and updating the piece coefficients with
  cumulative sums gives every piece's quadratic; the minimizer is the best clipped stationary point.
  Exact up to rounding, :math:`O(n\log n)` per problem.
* :func:`solve_robust_newton` (any ``d``): damped Newton on the smoothed objective with
  :math:`|u|\to\sqrt{u^2+\mu^2}` (still convex), warm-started along :math:`\mu = s, s/10, \dots`.
  Since :math:`|u|\le\sqrt{u^2+\mu^2}\le|u|+\mu`, the final :math:`\mu` bounds the sub-optimality.

Every solver works on a batch of problems at once (leading dimensions), with a 0/1 ``mask`` over
the points so that training sets of different sizes share one tensor.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.theory.config import SOLVERS
from tfrobust.theory.datamodel import DataModel
from tfrobust.theory.dtype import DTYPE


def _mask(y, mask):
    return tf.ones_like(y) if mask is None else tf.cast(mask, DTYPE)


def robust_objective(x, y, w, eps, mask=None):
    """``F(w)``: ``x`` [..., n, d], ``y`` [..., n], ``w`` [..., d], ``eps`` broadcast to [...]."""
    mask = _mask(y, mask)
    resid = tf.abs(y - tf.reduce_sum(x * w[..., None, :], axis=-1))
    per_point = (resid + (eps * tf.reduce_sum(tf.abs(w), axis=-1))[..., None]) ** 2
    return tf.reduce_sum(mask * per_point, axis=-1) / tf.reduce_sum(mask, axis=-1)


def least_squares(x, y, mask=None):
    """Standard model: minimum-norm least squares ``(X^T X)^+ X^T y`` for each problem -> [..., d]."""
    mask = _mask(y, mask)
    xm = x * mask[..., None]
    gram = tf.linalg.matmul(xm, x, transpose_a=True)
    xty = tf.reduce_sum(xm * y[..., None], axis=-2)
    if x.shape[-1] == 1:
        safe = tf.where(gram[..., 0] > 0, gram[..., 0], tf.ones_like(gram[..., 0]))
        return tf.where(gram[..., 0] > 0, xty / safe, tf.zeros_like(xty))
    return tf.linalg.matvec(tf.linalg.pinv(gram), xty)


def solve_robust_exact_1d(x, y, eps, mask=None):
    """Exact robust ERM for ``d = 1``. ``x`` [B..., n, 1], ``y`` [B..., n], ``eps`` [E] -> [E, B..., 1].

    Pieces are indexed by how many kinks lie to their left; the kink of ``|w|`` at 0 is one of them,
    so every piece lies on one side of 0 and ``sigma = sign(w)`` is constant on it. Left of every
    kink (``w -> -inf``) the residual sign of point ``i`` is ``s_i = sign(x_i)`` (``sign(y_i)`` if
    ``x_i = 0``); passing the kink ``b_i = y_i / x_i`` flips ``s_i``, which changes
    ``A = sum s_i y_i`` by ``-2 |x_i| b_i`` and ``B = sum s_i x_i`` by ``-2 |x_i|``. On a piece,
    ``n F(w) = Syy + 2w(eps sigma A - Sxy) + w^2 (Sxx - 2 eps sigma B + n eps^2)``.
    """
    kinks, weight, stats = _kinks_1d(tf.convert_to_tensor(x, DTYPE)[..., 0],
                                     tf.convert_to_tensor(y, DTYPE), _mask(y, mask))
    order = tf.argsort(kinks, axis=-1, stable=True)  # the TF kernel: XLA's CPU sort is slower
    return _best_piece(tf.convert_to_tensor(eps, DTYPE), kinks, weight, order, *stats)[..., None]


@tf.function(jit_compile=True)
def _kinks_1d(x, y, mask):
    """Kink positions (``+inf`` for padding points and ``x_i = 0``; one extra kink at 0), their
    weights ``|x_i|`` and the per-problem sums ``n, Sxx, Sxy, A_0, B_0``."""
    has_kink = (x != 0) & (mask > 0)
    kinks = tf.where(has_kink, y / tf.where(x != 0, x, tf.ones_like(x)), float("inf"))
    weight = tf.where(has_kink, tf.abs(x), 0.0)
    s0 = tf.where(x != 0, tf.sign(x), tf.sign(y))
    stats = (tf.reduce_sum(mask, axis=-1), tf.reduce_sum(mask * x * x, axis=-1),
             tf.reduce_sum(mask * x * y, axis=-1), tf.reduce_sum(mask * s0 * y, axis=-1),
             tf.reduce_sum(mask * s0 * x, axis=-1))
    zero = tf.zeros_like(kinks[..., :1])
    return tf.concat([kinks, zero], axis=-1), tf.concat([weight, zero], axis=-1), stats


@tf.function(jit_compile=True)
def _best_piece(eps, kinks, weight, order, count, sxx, sxy, a0, b0):
    """Per eps, the clipped stationary point of every piece and the best of them -> [E, B...].

    ``n F - Syy = w (2 lin + w quad)``, ``lin = eps sigma A - Sxy``,
    ``quad = Sxx + n eps^2 - 2 eps sigma B``. One fused XLA kernel: the [E, B..., K] tensors
    never reach memory.
    """
    batch = len(kinks.shape) - 1
    kinks = tf.gather(kinks, order, batch_dims=batch)
    weight = tf.gather(weight, order, batch_dims=batch)
    step_b = -2.0 * weight
    step_a = tf.where(weight > 0, step_b * kinks, 0.0)

    def before(v):  # value on piece k: sum over the k kinks left of it
        return tf.concat([tf.zeros_like(v[..., :1]), tf.cumsum(v, axis=-1)], axis=-1)

    inf = tf.fill(tf.shape(kinks[..., :1]), tf.constant(float("inf"), DTYPE))
    lo = tf.concat([-inf, kinks], axis=-1)
    hi = tf.concat([kinks, inf], axis=-1)
    sigma = tf.where(lo >= 0, tf.ones_like(lo), -tf.ones_like(lo))
    sa = sigma * (a0[..., None] + before(step_a))
    sb = sigma * (b0[..., None] + before(step_b))

    e = tf.reshape(eps, [-1] + [1] * len(sa.shape))
    quad = (sxx + count * e[..., 0] * e[..., 0])[..., None] - 2.0 * e * sb
    lin = e * sa - sxy[..., None]
    stationary = tf.where(quad > 0, -lin / tf.where(quad > 0, quad, tf.ones_like(quad)), 0.0)
    w = tf.clip_by_value(stationary, tf.maximum(lo, -1e300), tf.minimum(hi, 1e300))
    # pieces that start at +inf (right of the padding points' kinks) do not exist
    value = tf.where(lo < float("inf"), w * (2.0 * lin + w * quad), float("inf"))
    best = tf.argmin(value, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.where(tf.range(tf.shape(w)[-1]) == best[..., None], w, 0.0), axis=-1)


def _smoothed(x, y, mask, w, eps, mu):
    """Smoothed objective for a stack of candidates ``w`` [B..., A, d] -> [B..., A]."""
    resid = y[..., None, :] - tf.linalg.matmul(w, x, transpose_b=True)  # [B..., A, n]
    norm_w = tf.reduce_sum(tf.sqrt(w * w + mu[..., None, None] ** 2), axis=-1)
    g = tf.sqrt(resid * resid + mu[..., None, None] ** 2) + (eps[..., None] * norm_w)[..., None]
    return tf.reduce_sum(mask[..., None, :] * g * g, axis=-1) / tf.reduce_sum(mask, axis=-1)[..., None]


def _newton_step(x, y, mask, w, eps, mu, alphas):
    count = tf.reduce_sum(mask, axis=-1)
    mu2 = (mu * mu)[..., None]
    resid = y - tf.linalg.matvec(x, w)
    phi_r = tf.sqrt(resid * resid + mu2)
    phi_w = tf.sqrt(w * w + mu2)
    g = phi_r + (eps * tf.reduce_sum(phi_w, axis=-1))[..., None]  # [B, n]
    grad_g = -(resid / phi_r)[..., None] * x + (eps[..., None] * w / phi_w)[..., None, :]  # [B, n, d]
    weight = mask * 2.0 / count[..., None]
    grad = tf.reduce_sum((weight * g)[..., None] * grad_g, axis=-2)
    curv_r = mu2 / phi_r ** 3
    hess = tf.linalg.matmul(grad_g * weight[..., None], grad_g, transpose_a=True)
    hess += tf.linalg.matmul(x * (weight * g * curv_r)[..., None], x, transpose_a=True)
    hess += tf.linalg.diag(tf.reduce_sum(weight * g, axis=-1)[..., None] * eps[..., None]
                           * mu2 / phi_w ** 3)
    dim = w.shape[-1]
    ridge = 1e-12 * tf.linalg.trace(hess) / dim + 1e-300
    hess += ridge[..., None, None] * tf.eye(dim, dtype=DTYPE)
    step = -tf.linalg.solve(hess, grad[..., None])[..., 0]
    # line search: the best of a ladder of step lengths, 0 included, so F never goes up
    cands = w[..., None, :] + alphas[:, None] * step[..., None, :]
    values = _smoothed(x, y, mask, cands, eps, mu)
    return tf.gather(cands, tf.argmin(values, axis=-1), batch_dims=len(w.shape) - 1)


def solve_robust_newton(x, y, eps, mask=None, stages: int = 13, steps_per_stage: int = 8):
    """Robust ERM for any ``d`` by smoothed damped Newton. Shapes as :func:`solve_robust_exact_1d`.

    ``mu`` goes ``s, s/10, ..., s/10^(stages-1)`` with ``s`` the root mean square of ``y``; each
    stage takes up to ``steps_per_stage`` Newton steps and ends early once no problem of the batch
    moves any more. The defaults reach the exact solver's objective to ~1e-11 in ``d = 1``.
    """
    x = tf.convert_to_tensor(x, DTYPE)
    y = tf.convert_to_tensor(y, DTYPE)
    mask = _mask(y, mask)
    eps = tf.convert_to_tensor(eps, DTYPE)
    n_eps = tf.shape(eps)[0]
    tile = lambda t: tf.tile(t[None], tf.concat([[n_eps], tf.ones(tf.rank(t), tf.int32)], 0))
    x, y, mask = tile(x), tile(y), tile(mask)
    eps_b = tf.broadcast_to(tf.reshape(eps, [-1] + [1] * (len(y.shape) - 2)), tf.shape(y)[:-1])
    w0 = least_squares(x, y, mask)  # the eps = 0 solution: a warm start
    return _newton_loop(x, y, mask, eps_b, w0, stages, steps_per_stage)


@tf.function(jit_compile=True)
def _newton_loop(x, y, mask, eps, w, stages, steps_per_stage):
    scale = tf.sqrt(tf.reduce_sum(mask * y * y, axis=-1) / tf.reduce_sum(mask, axis=-1)) + 1e-12
    alphas = tf.constant([2.0 ** -k for k in range(0, 24)] + [0.0], DTYPE)

    def body(stage, step, w):
        mu = scale * tf.pow(tf.constant(10.0, DTYPE), -tf.cast(stage, DTYPE))
        new = _newton_step(x, y, mask, w, eps, mu, alphas)
        moved = tf.reduce_max(tf.abs(new - w) / (1.0 + tf.abs(w)))
        next_stage = (moved < 1e-12) | (step + 1 >= steps_per_stage)
        return (tf.where(next_stage, stage + 1, stage), tf.where(next_stage, 0, step + 1), new)

    _, _, w = tf.while_loop(lambda stage, step, w: stage < stages, body,
                            (tf.constant(0), tf.constant(0), w))
    return w


def solve_robust(x, y, eps, mask=None, solver: str = "auto"):
    """Robust ERM for a batch of problems and a list of eps -> ``[E, B..., d]``.

    ``solver``: ``"exact1d"`` (only ``d = 1``), ``"newton"`` (any ``d``) or ``"auto"`` (exact when
    ``d = 1``, else Newton).
    """
    if solver not in SOLVERS:
        raise ConfigError(f"solver={solver!r} is not allowed; allowed: {', '.join(SOLVERS)}")
    dim = x.shape[-1]
    if solver == "exact1d" and dim != 1:
        raise ConfigError(f"solver='exact1d' needs dim=1, got dim={dim}; use 'newton' or 'auto'")
    if solver == "exact1d" or (solver == "auto" and dim == 1):
        return solve_robust_exact_1d(x, y, eps, mask)
    return solve_robust_newton(x, y, eps, mask)


class RegressionModel(DataModel):
    """What the regression data models share: least squares is the standard model, the robust ERM
    comes from :func:`solve_robust`, and neither has a closed-form expected test loss.

    A subclass provides ``dim``, ``sample(seed, shape)`` and ``natural_loss(w)``.
    """

    kind = "regression"  # no closed-form expected loss for the robust ERM

    def chunk_cost(self, n_max: int, n_sizes: int, n_eps: int, solver: str) -> int:
        """Float64 numbers in one repetition's largest intermediate tensor of the kernel."""
        if solver == "newton" or (solver == "auto" and self.dim > 1):
            return n_eps * n_sizes * n_max * max(self.dim, 1) * 25
        return n_eps * n_sizes * (n_max + 2) * 2

    def monte_carlo_losses(self, seed, reps, n_max: int, n, eps, solver: str = "auto"):
        """Monte Carlo kernel: natural test losses of least squares and each eps-robust ERM
        (``solver``) on ``reps`` nested training sets of the sizes ``n`` -> ``[R, N]``, ``[E, R, N]``."""
        x, y = self.sample(seed, [reps, n_max])
        mask = tf.cast(tf.range(n_max)[None, :] < n[:, None], DTYPE)  # [N, M]
        shape = [reps, tf.shape(n)[0], n_max]
        xb = tf.broadcast_to(x[:, None], shape + [self.dim])
        yb = tf.broadcast_to(y[:, None], shape)
        mb = tf.broadcast_to(mask[None], shape)
        w_std, w_rob = least_squares(xb, yb, mb), solve_robust(xb, yb, eps, mb, solver)
        loss_std, loss_rob = self.natural_loss(w_std), self.natural_loss(w_rob)  # [R, N], [E, R, N]
        # at eps = 0 the robust ERM is least squares: reuse its very numbers, so the gap is exactly 0
        return loss_std, tf.where(tf.reshape(eps, [-1, 1, 1]) == 0.0, loss_std[None], loss_rob)
