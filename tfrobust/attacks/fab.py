"""FAB, the fast adaptive boundary attack (Croce & Hein 2020): a small perturbation, found by
projecting onto the linearised decision boundary, under L-infinity or L2.

``fab`` is the reference's untargeted run: at each step the logits are linearised at the current
point and the hyperplane of the class ``k != y`` closest in the dual norm (``|z_k - z_y| /
||grad(z_k - z_y)||_1`` under L-inf, ``_2`` under L2) is taken. ``fab_t`` is AutoAttack's targeted
run: for each rank 2 .. ``target_classes + 1``, the target ``t`` is the class of that rank in the
clean logits of the examples attacked (:func:`~tfrobust.attacks.losses.ranked_class`) and the
hyperplane is that of ``z_t - z_y``. Both follow fra31/auto-attack (``fab_base.py``, ``fab_pt.py``,
``fab_projections.py``), with its defaults (``steps=100``, ``alpha_max=0.1``, ``eta=1.05``,
``beta=0.9``; ``eps=0.3``; allowed: ``eps > 0``, ``alpha_max`` in [0, 1], ``eta >= 1``, ``beta``
in (0, 1]):

- each run attacks only the examples still classified correctly and not yet fooled within ``eps``
  (by an earlier restart or target); the first restart starts at the input, later ones at
  ``x + min(res, eps) * 0.5 * t / ||t||`` (``res`` = 1e10 at a run's start, so ``eps / 2``; L-inf:
  ``t`` uniform in [-1, 1] over its max norm, L2: ``t`` normal), clipped to [0, 1];
- each step projects both the current point ``x1`` and the input ``x0`` onto the hyperplane
  intersected with the box [0, 1]^d (one call on the two stacked, the reference's concatenation),
  giving ``d1`` and ``d2``; with ``alpha = clip(|d1| / (|d1| + |d2|), 0, alpha_max)`` (norms at
  least 1e-8) the step is ``x1 = clip((x1 + eta d1)(1 - alpha) + (x0 + eta d2) alpha, 0, 1)``;
- where ``x1`` is misclassified it is kept if closer to ``x0`` than the best so far, and moved back
  to ``x0 + beta (x1 - x0)``;
- a run's result counts only if its distance is at most ``eps``; the other examples keep the
  clean input (so the output is always within ``eps``, and equal to ``x`` where not fooled).

The projections (:func:`projection_linf`, :func:`projection_l2`) are the reference's exact ones,
written differently: the reference finds the active breakpoint of the piecewise-linear constraint
by a bisection loop; here every breakpoint is evaluated at once (cumulative sums over the sorted
breakpoints) and the breakpoints passed are counted, which gives the same point without a loop.
Where the hyperplane does not meet the box, both return the move to the box corner that gets
closest to it, as the reference does.

Deviations: the reference's ``attack_single_run`` predicts the examples it is given once more and
its ``perturb`` predicts each run's result again; both are known here (only correctly classified
examples are attacked, and a point is kept only right after it was predicted misclassified), so
those forward passes are skipped. ``targeted=true`` is refused: ``fab_t`` chooses its targets.
``passes`` counts per example: 1 forward for the clean check; per step 2 forward and ``K`` backward
(``fab``: the Jacobian of the ``K`` logits) or 1 backward (``fab_t``); per target 1 forward (the
clean logits that rank the classes).
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfrobust.attacks.base import NO_PASSES, CountingAttack, count
from tfrobust.attacks.losses import ranked_class
from tfrobust.attacks.rows import batch_mask, on_rows
from tfrobust.errors import ConfigError

NORMS = ("linf", "l2")
_NONE_YET = 1e10  # the reference's distance of "no adversarial point found yet"
_FAR = 1e12  # where a coordinate with no weight would reach the box: never


def _flat(v):
    return tf.reshape(v, [tf.shape(v)[0], -1])


def _norm(v, norm):
    """Per row of a [n, d] tensor; the dual norm of L-inf is L1 (``norm="l1"``)."""
    if norm == "linf":
        return tf.reduce_max(tf.abs(v), axis=-1)
    if norm == "l1":
        return tf.reduce_sum(tf.abs(v), axis=-1)
    return tf.sqrt(tf.reduce_sum(tf.square(v), axis=-1))


def _solve_piecewise(breaks, weights, c):
    """Per row, the ``s >= 0`` with ``sum_i weights_i * min(s, breaks_i) = c`` (``breaks``,
    ``weights`` >= 0 of shape [n, d], ``c`` >= 0 of shape [n]); where even ``s = inf`` falls
    short, the largest break (no weight is left above it). The left side is piecewise linear and
    increasing, with kinks at ``breaks``."""
    order = tf.argsort(breaks, axis=1, stable=True)
    q = tf.gather(breaks, order, batch_dims=1)
    w = tf.gather(weights, order, batch_dims=1)
    rest = tf.cumsum(w, axis=1, exclusive=True, reverse=True)  # weights of the breaks above each
    value = tf.cumsum(w * q, axis=1) + q * rest  # the left side at each break
    zero = tf.zeros_like(c[:, None])
    q = tf.concat([zero, q], 1)  # s = 0 is a break too: before the first kink
    value = tf.concat([zero, value], 1)
    rest = tf.concat([tf.reduce_sum(w, 1, keepdims=True), rest], 1)
    passed = tf.reduce_sum(tf.cast(value < c[:, None], tf.int32), axis=1)
    k = tf.maximum(passed - 1, 0)[:, None]  # the last break below c; s lies on the next piece
    s = tf.gather(q, k, batch_dims=1) + tf.math.divide_no_nan(
        c[:, None] - tf.gather(value, k, batch_dims=1), tf.gather(rest, k, batch_dims=1))
    return s[:, 0]


def _oriented(t, w, b):
    """``(w, c)`` with the sign of the hyperplane turned so that ``c = w.t - b >= 0``: the move
    ``d`` must then satisfy ``w.d = -c``."""
    c = tf.reduce_sum(w * t, axis=1) - b
    sign = tf.where(c >= 0, 1.0, -1.0)
    return w * sign[:, None], c * sign


def projection_linf(t, w, b):
    """Per row of the [n, d] tensors ``t`` (points in [0, 1]), ``w`` and of ``b`` [n]: the ``d`` of
    least L-inf norm with ``w.(t + d) = b`` and ``t + d`` in [0, 1]. Each coordinate moves towards
    the box face that lowers ``w.x`` by ``min(s, room_i)``; ``s`` solves the piecewise-linear
    equation. Coordinates with ``w_i = 0`` do not move."""
    w, c = _oriented(t, w, b)
    room = tf.where(w < 0, 1.0 - t, t)
    s = _solve_piecewise(room, tf.abs(w), c)
    d = tf.where(w < 0, 1.0, -1.0) * tf.minimum(s[:, None], room)
    return tf.where(w != 0, d, 0.0)


def projection_l2(t, w, b):
    """As :func:`projection_linf`, least L2 norm: ``d = clip(-s w, -t, 1 - t)``, each coordinate
    stopping at the box after ``s = r_i``; coordinates with ``|w_i| <= 1e-8`` do not move."""
    w, c = _oriented(t, w, b)
    active = tf.abs(w) > 1e-8
    w = tf.where(active, w, 0.0)
    r = tf.where(active, tf.math.divide_no_nan(tf.where(w > 0, t, t - 1.0), w), _FAR)
    s = _solve_piecewise(r, tf.square(w), c)
    d = tf.clip_by_value(-s[:, None] * w, -t, 1.0 - t)
    return tf.where(active, d, 0.0)


@dataclasses.dataclass(frozen=True)
class FAB(CountingAttack):
    name = "fab"

    eps: float = 0.3
    norm: str = "linf"
    steps: int = 100
    restarts: int = 1
    alpha_max: float = 0.1
    eta: float = 1.05
    beta: float = 0.9

    def validate(self):
        super().validate()
        self._check_number("eps", strict=True)
        self._check_norm(NORMS)
        self._check_count("steps")
        self._check_count("restarts")
        self._check_number("alpha_max")
        self._check(self.alpha_max <= 1, "alpha_max", "a number in [0, 1]")
        self._check_number("eta", minimum=1)
        self._check_number("beta", strict=True)
        self._check(self.beta <= 1, "beta", "a number in (0, 1]")
        if self.targeted:
            raise ConfigError(f"attack {self.name!r}: targeted=true is not supported; fab_t picks its "
                              "target classes from the logits")

    @property
    def radius(self):
        return self.eps

    def perturb_counted(self, model, x, y, seed):
        y = self.labels(model, x, y)
        state = self._start(model, x, y)
        for restart in tf.range(self.restarts):
            state = self._attack_robust(model, x, y, state, None, restart,
                                        tf.random.experimental.stateless_fold_in(seed, restart))
        return state[0], state[2]

    # ---- runs on the examples still robust ------------------------------------------------
    @staticmethod
    def _start(model, x, y):
        """``(x_out, robust, passes)``: the input, where it is classified correctly, one pass."""
        robust = tf.equal(tf.argmax(model(x, training=False), axis=-1, output_type=tf.int64), y)
        return x, robust, tf.constant(NO_PASSES, tf.int64) + count(x, 1, 0)

    def _attack_robust(self, model, x, y, state, rank, restart, seed):
        """One run (from a random start after the first restart) on the examples still robust;
        those it fools within ``eps`` take its result and are robust no more."""
        x_out, robust, passes = state

        def run(rows, context):
            xs, ys = context
            more, target = tf.zeros([2], tf.int64), None
            if rank is not None:  # the reference ranks the clean logits of the examples attacked
                target = ranked_class(model(xs, training=False), rank)
                more += count(xs, 1, 0)
            x_adv, dist, run_passes = self.single_run(model, xs, ys, target, restart > 0, seed)
            fooled = dist <= self.eps
            return (tf.where(batch_mask(fooled, xs), x_adv, xs), ~fooled), more + run_passes

        (x_out, robust), passes = on_rows(robust, run, (x_out, robust), (x, y), passes)
        return x_out, robust, passes

    # ---- one run ----------------------------------------------------------------------------
    def single_run(self, model, x0, y, target, random_start, seed):
        """``(adv, dist, passes)``: per example the closest misclassified point found in
        ``steps`` steps and its distance to ``x0`` (1e10 where none was found)."""
        n = tf.shape(x0)[0]
        x0f = _flat(x0)
        if self.norm == "linf":
            noise = tf.random.stateless_uniform(tf.shape(x0f), seed, -1.0, 1.0)
        else:
            noise = tf.random.stateless_normal(tf.shape(x0f), seed)
        noise /= tf.maximum(_norm(noise, self.norm), 1e-12)[:, None]
        x1 = tf.where(random_start, tf.clip_by_value(x0f + 0.5 * self.eps * noise, 0.0, 1.0), x0f)
        adv, best = x0f, tf.fill([n], tf.constant(_NONE_YET, x0.dtype))
        passes = tf.zeros([2], tf.int64)
        project = projection_linf if self.norm == "linf" else projection_l2
        for _ in tf.range(self.steps):
            df, dg, step_passes = self._boundary(model, tf.reshape(x1, tf.shape(x0)), y, target)
            b = tf.reduce_sum(dg * x1, axis=1) - df  # the linearised boundary: dg.x = b
            d = project(tf.concat([x1, x0f], 0), tf.concat([dg, dg], 0), tf.concat([b, b], 0))
            a = tf.maximum(_norm(d, self.norm), 1e-8)
            d1, d2, a1, a2 = d[:n], d[n:], a[:n], a[n:]
            alpha = tf.clip_by_value(a1 / (a1 + a2), 0.0, self.alpha_max)[:, None]
            x1 = tf.clip_by_value((x1 + self.eta * d1) * (1 - alpha) + (x0f + self.eta * d2) * alpha,
                                  0.0, 1.0)
            logits = model(tf.reshape(x1, tf.shape(x0)), training=False)
            passes += step_passes + count(x0, 1, 0)
            is_adv = tf.not_equal(tf.argmax(logits, axis=-1, output_type=tf.int64), y)
            dist = _norm(x1 - x0f, self.norm)
            closer = is_adv & (dist < best)
            adv = tf.where(closer[:, None], x1, adv)
            best = tf.where(closer, dist, best)
            x1 = tf.where(is_adv[:, None], x0f + (x1 - x0f) * self.beta, x1)
        return tf.reshape(adv, tf.shape(x0)), best, passes

    def _boundary(self, model, x1, y, target):
        """``(df, dg, passes)``: the value [n] and gradient [n, d] of ``z_k - z_y`` at ``x1`` for
        the class ``k`` whose linearised boundary is closest in the dual norm."""
        with tf.GradientTape() as tape:
            tape.watch(x1)
            logits = model(x1, training=False)
        jac = _flat_jacobian(tape.batch_jacobian(logits, x1))  # [n, K, d]
        z_y = tf.gather(logits, y, batch_dims=1)
        g_y = tf.gather(jac, y, batch_dims=1)
        df = logits - z_y[:, None]
        dg = jac - g_y[:, None]
        dual = "l1" if self.norm == "linf" else "l2"
        dist = tf.abs(df) / (1e-12 + _norm(dg, dual))
        is_y = tf.one_hot(y, tf.shape(logits)[1]) > 0
        k = tf.argmin(tf.where(is_y, tf.constant(float("inf"), dist.dtype), dist), axis=1)
        classes = tf.cast(tf.shape(logits)[1], tf.int64)
        return (tf.gather(df, k, batch_dims=1), tf.gather(dg, k, batch_dims=1),
                count(x1, 1, 0) + count(x1, 0, 1) * classes)


def _flat_jacobian(jac):
    shape = tf.shape(jac)
    return tf.reshape(jac, [shape[0], shape[1], -1])


@dataclasses.dataclass(frozen=True)
class FABTargeted(FAB):
    name = "fab_t"

    target_classes: int = 9

    def validate(self):
        super().validate()
        self._check_count("target_classes")

    def check_classes(self, num_classes):
        if self.target_classes > num_classes - 1:
            raise ConfigError(f"attack {self.name!r}: target_classes={self.target_classes} is more than "
                              f"the {num_classes - 1} other classes of a {num_classes}-class dataset")

    def perturb_counted(self, model, x, y, seed):
        y = self.labels(model, x, y)
        state = self._start(model, x, y)
        for rank in tf.range(2, self.target_classes + 2):
            for restart in tf.range(self.restarts):
                run_seed = tf.random.experimental.stateless_fold_in(
                    tf.random.experimental.stateless_fold_in(seed, rank), restart)
                state = self._attack_robust(model, x, y, state, rank, restart, run_seed)
        return state[0], state[2]

    def _boundary(self, model, x1, y, target):
        """The boundary of ``z_t - z_y`` for the target ``t``: one backward pass."""
        with tf.GradientTape() as tape:
            tape.watch(x1)
            logits = model(x1, training=False)
            df = tf.gather(logits, target, batch_dims=1) - tf.gather(logits, y, batch_dims=1)
            total = tf.reduce_sum(df)
        return df, _flat(tape.gradient(total, x1)), count(x1, 1, 1)
