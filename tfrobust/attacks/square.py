"""Square Attack (Andriushchenko et al. 2020): a score-based attack that uses no gradients.

``square`` only queries the model's logits (backward passes: 0). It follows fra31/auto-attack
(``square.py``, ``attack_single_run``) with AutoAttack's settings (``p_init=0.8``, 5000 queries,
one restart, ``resc_schedule=False``: the schedule of ``p`` is not rescaled to ``queries``):

- start: L-inf: ``x + eps * r`` with ``r`` a random sign per example, channel and column (vertical
  stripes, the reference's ``[c, 1, w]``); L2: a grid of ``h // 5``-pixel windows, each holding the
  pseudo-Gaussian pattern :func:`eta` (transposed at random) times a random sign per example and
  channel, scaled to L2 norm ``eps``; then clipped to [0, 1];
- iteration ``i`` (from 0): ``p = p_init / 2**k`` with ``k`` the number of the thresholds 10, 50,
  200, 500, 1000, 2000, 4000, 6000, 8000 below ``i`` (:func:`p_selection`); a square of side
  ``s = round(sqrt(p * h * w))`` (at least 1, at most ``min(h, w)``; L2: at least 3 and odd,
  :func:`square_size`) at a random position. L-inf: the square of the current best point moves by
  ``2 eps`` times a random sign per channel, then is projected onto the ball and [0, 1]. L2: the
  perturbation in the square becomes its old content (normalised) plus :func:`eta` times a random
  sign per example and channel, rescaled so that it takes the norm of that square and of a second
  random square (which is zeroed) plus the unused budget; the whole perturbation is then scaled
  to norm ``eps`` and clipped to [0, 1];
- the new point replaces the best one of an example when its loss (``margin``: ``z_y - max_{i!=y}
  z_i``; ``ce``: minus the cross-entropy; targeted: the target's cross-entropy, whatever ``loss``
  says) decreases, or when it is misclassified (margin <= 0). Each iteration gathers the examples
  not yet fooled and queries only those; the loop stops once all are fooled;
- ``restarts`` runs, each only on the examples still classified correctly.

As in the reference, one square position (L2: two positions and one orientation of ``eta``) is
drawn per iteration for the whole batch being attacked, not per example; the L-inf sign is drawn
per channel for the whole batch, the L2 signs per example and channel. Positions are drawn from
``0 .. h - s - 1`` (the reference's ``random_int(0, h - s)``; position 0 when ``s == h``).
Images are channels-last (N, H, W, C); the reference is channels-first. Flat inputs are refused.

Deviations: ``queries`` bounds every forward pass of an example, the clean classification
included (one pass gives the labels, when ``y`` is None, and the clean check): the first run
evaluates its start and then iterates ``queries - 2`` times (with ``queries=1`` it is skipped),
later restarts iterate ``queries - 1`` times, so an example costs at most ``restarts * queries``
forward passes (the reference spends a clean pass, the start, ``queries`` iterations and a final check per
run; the check is not needed, the loop's margins tell). The L2 start uses windows of
``max(h // 5, 1)`` pixels and leaves out windows that do not fit in the image (the reference fails
on such images). Per example the output is the point that fooled the model, or else the point of
lowest loss found over all restarts, starting from the clean input (the reference returns the
clean input there; same accuracy).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfrobust.attacks.base import NO_PASSES, CountingAttack, count, is_number, per_example_loss, per_example_norm
from tfrobust.attacks.losses import largest_other_logit, margin
from tfrobust.attacks.rows import batch_mask, on_rows
from tfrobust.errors import ConfigError

NORMS = ("linf", "l2")
LOSSES = ("margin", "ce")
P_THRESHOLDS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def p_selection(iteration: int, p_init: float) -> float:
    """The reference's ``p_selection`` (without ``resc_schedule``): ``p_init`` halved once for each
    threshold of :data:`P_THRESHOLDS` that ``iteration`` (0-based) exceeds."""
    return p_init / 2 ** sum(iteration > t for t in P_THRESHOLDS)


def schedule_stage(iteration: tf.Tensor) -> tf.Tensor:
    """In the graph: how many thresholds ``iteration`` exceeds, so ``p = p_init / 2**stage``."""
    passed = tf.cast(iteration, tf.int32) > tf.constant(P_THRESHOLDS, tf.int32)
    return tf.reduce_sum(tf.cast(passed, tf.int32))


def square_size(p: float, height: int, width: int, channels: int, norm: str) -> int:
    """Side of the square for fraction ``p``, as in the reference."""
    s = int(round(math.sqrt(p * (channels * height * width) / channels)))
    if norm == "linf":
        s = max(s, 1)
    else:
        s = max(s, 3)
        s += 1 - s % 2  # odd
    return min(s, min(height, width))


def _eta_rectangle(rows: int, cols: int) -> np.ndarray:
    """The reference's ``eta_rectangles`` (L2): nested rectangles around the centre, the k-th
    adding 1 / (k + 1)**2, normalised to unit L2 norm."""
    delta = np.zeros((rows, cols))
    ci, cj = rows // 2, cols // 2
    for k in range(max(rows, cols) // 2 + 1):
        delta[max(ci - k, 0):ci + k + 1, max(cj - k, 0):cj + k + 1] += 1.0 / (k + 1) ** 2
    return delta / np.sqrt(np.sum(delta ** 2)) if delta.size else delta


def eta(s: int) -> np.ndarray:
    """The reference's ``eta(s)`` (L2) before its random transposition: an ``s x s`` pattern, the
    top ``s // 2`` rows one rectangle, the others minus another, of unit L2 norm."""
    delta = np.concatenate([_eta_rectangle(s // 2, s), -_eta_rectangle(s - s // 2, s)])
    return (delta / np.sqrt(np.sum(delta ** 2))).astype(np.float32)


def _random_sign(shape, seed):
    return tf.cast(tf.random.stateless_uniform(shape, seed, 0, 2, tf.int32) * 2 - 1, tf.float32)


def _position(seed, size, s):
    """Uniform in 0 .. size - s - 1 (0 when s == size), like the reference's random_int."""
    return tf.random.stateless_uniform([], seed, 0, tf.maximum(size - s, 1), tf.int32)


def _window(vh, vw, s, height, width):
    """[height, width, 1] float mask of the s x s square at (vh, vw)."""
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = (rows >= vh) & (rows < vh + s) & (cols >= vw) & (cols < vw + s)
    return tf.cast(inside, tf.float32)[:, :, None]


@dataclasses.dataclass(frozen=True)
class Square(CountingAttack):
    name = "square"

    eps: float = 0.3
    norm: str = "linf"
    queries: int = 5000
    p_init: float = 0.8
    restarts: int = 1
    loss: str = "margin"

    def validate(self):
        super().validate()
        self._check_number("eps", strict=True)
        self._check_norm(NORMS)
        self._check_count("queries")
        self._check(is_number(self.p_init) and 0 < self.p_init <= 1, "p_init", "a number in (0, 1]")
        self._check_count("restarts")
        self._check(isinstance(self.loss, str) and self.loss in LOSSES, "loss", f"one of {', '.join(LOSSES)}")

    @property
    def radius(self):
        return self.eps

    def probe(self):
        """The sanity checks' cheaper Square: at most 1,000 queries."""
        return dataclasses.replace(self, queries=min(self.queries, 1000))

    def check_input(self, input_shape):
        if len(input_shape) != 3:
            raise ConfigError(f"attack {self.name!r}: needs images of shape (height, width, channels); "
                              f"the inputs have shape {tuple(input_shape)}")

    def check_classes(self, num_classes):
        if num_classes < 2:
            raise ConfigError(f"attack {self.name!r}: needs 2 classes or more; the data has {num_classes}")

    def _margin_and_loss(self, logits, y):
        """(margin, loss) as the reference's margin_and_loss: the margin is > 0 while the attack
        has not succeeded; the loss is what the attack lowers."""
        if self.targeted:
            return largest_other_logit(logits, y) - tf.gather(logits, tf.cast(y, tf.int32), axis=1,
                                                              batch_dims=1), per_example_loss(logits, y)
        m = margin(logits, y)
        return m, (m if self.loss == "margin" else -per_example_loss(logits, y))

    # ---- the attack ---------------------------------------------------------------------------
    def perturb_counted(self, model, x, y, seed):
        self.check_input(tuple(x.shape[1:]))
        self.check_labels(y)
        logits = model(x, training=False)  # labels and clean check share this forward pass
        if y is None or self.predicted_labels:
            y = tf.argmax(logits, axis=-1, output_type=tf.int64)
        y = tf.cast(y, tf.int64)
        _, clean_loss = self._margin_and_loss(logits, y)
        fooled = self.succeeded(logits, y)
        passes = tf.constant(NO_PASSES, tf.int64) + count(x)
        eps = tf.constant(self.eps, x.dtype)

        def body(r, out_x, out_loss, fooled, passes):
            budget = self.queries - tf.cast(tf.equal(r, 0), tf.int32)  # the clean pass was one
            run_seed = tf.random.experimental.stateless_fold_in(seed, r)

            def run(rows, context):
                old_x, old_loss, _ = rows
                x_r, y_r = context
                x_best, m, loss, run_passes = self.single_run(model, x_r, y_r, eps, budget, run_seed)
                now = m <= 0
                take = now | (loss < old_loss)
                return (tf.where(batch_mask(take, x_r), x_best, old_x), tf.where(take, loss, old_loss), now), run_passes

            (out_x, out_loss, fooled), passes = on_rows(~fooled, run, (out_x, out_loss, fooled), (x, y), passes)
            return r + 1, out_x, out_loss, fooled, passes

        first = 1 if self.queries == 1 else 0  # queries=1: the clean pass used the first run's budget
        _, out_x, _, _, passes = tf.while_loop(
            lambda r, out_x, out_loss, fooled, passes: (r < self.restarts) & tf.reduce_any(~fooled),
            body, (tf.constant(first), x, clean_loss, fooled, passes))
        return out_x, passes

    def single_run(self, model, x, y, eps, budget, seed):
        """One run on ``x`` with at most ``budget`` (>= 1) forward passes per example:
        ``(x_best, margin, loss, passes)``."""
        x_best = self._start(x, eps, tf.random.experimental.stateless_fold_in(seed, 0))
        m, loss = self._margin_and_loss(model(x_best, training=False), y)
        passes = count(x)

        def body(i, x_best, m, loss, passes):
            step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(i, tf.int64) + 1)

            def step(rows, context):
                best_c, m_c, loss_c = rows
                x_c, y_c = context
                x_new = self._step(x_c, best_c, eps, i, step_seed)
                m_new, loss_new = self._margin_and_loss(model(x_new, training=False), y_c)
                lower = loss_new < loss_c
                improved = lower | (m_new <= 0)
                return ((tf.where(batch_mask(improved, x_new), x_new, best_c), tf.where(improved, m_new, m_c),
                         tf.where(lower, loss_new, loss_c)), count(x_c))

            (x_best, m, loss), passes = on_rows(m > 0, step, (x_best, m, loss), (x, y), passes)
            return i + 1, x_best, m, loss, passes

        _, x_best, m, loss, passes = tf.while_loop(
            lambda i, x_best, m, loss, passes: (i < budget - 1) & tf.reduce_any(m > 0),
            body, (tf.constant(0), x_best, m, loss, passes))
        return x_best, m, loss, passes

    def _sizes(self, height, width, channels):
        """Square side for each schedule stage 0..9."""
        return [square_size(self.p_init / 2 ** k, height, width, channels, self.norm)
                for k in range(len(P_THRESHOLDS) + 1)]

    def _start(self, x, eps, seed):
        height, width, channels = x.shape[1:]
        n = tf.shape(x)[0]
        if self.norm == "linf":
            return tf.clip_by_value(x + eps * _random_sign([n, 1, width, channels], seed), 0.0, 1.0)
        # L2: windows of side s on a grid (static, built while tracing), one orientation of eta
        # per window and one sign per example, window and channel (random, at run time).
        s = max(height // 5, 1)
        start = max((height - 5 * s) // 2, 0)
        pattern = eta(s)
        plain, flipped = np.zeros((height, width), np.float32), np.zeros((height, width), np.float32)
        window_id = np.zeros((height, width), np.int32)
        count_windows = 0
        for a in range(height // s):
            for b in range(width // s):
                vh, vw = start + a * s, start + b * s
                if vh + s > height or vw + s > width:
                    continue
                count_windows += 1  # ids start at 1; 0 is outside every window
                plain[vh:vh + s, vw:vw + s] = pattern
                flipped[vh:vh + s, vw:vw + s] = pattern.T
                window_id[vh:vh + s, vw:vw + s] = count_windows
        transpose = tf.random.stateless_uniform([count_windows + 1], seed, 0, 2, tf.int32) > 0
        canvas = tf.where(tf.gather(transpose, window_id), flipped, plain)
        signs = _random_sign([n, count_windows + 1, channels], tf.random.experimental.stateless_fold_in(seed, 1))
        delta = canvas[None, :, :, None] * tf.gather(signs, window_id, axis=1)
        return tf.clip_by_value(x + delta / (per_example_norm(delta) + 1e-12) * eps, 0.0, 1.0)

    def _step(self, x, x_best, eps, i, seed):
        height, width, channels = x.shape[1:]
        seeds = [tf.random.experimental.stateless_fold_in(seed, k) for k in range(6)]
        sizes = self._sizes(height, width, channels)
        stage = schedule_stage(i)
        s = tf.gather(tf.constant(sizes, tf.int32), stage)
        vh, vw = _position(seeds[0], height, s), _position(seeds[1], width, s)
        mask = _window(vh, vw, s, height, width)
        if self.norm == "linf":
            x_new = x_best + mask * (2.0 * eps) * _random_sign([channels], seeds[2])
            return tf.clip_by_value(tf.clip_by_value(x_new, x - eps, x + eps), 0.0, 1.0)

        # L2: eta(s) (or its transpose) at the top-left corner of a canvas, rolled to (vh, vw).
        unique = sorted(set(sizes))
        canvases = np.zeros((len(unique), 2, height, width), np.float32)
        for u, side in enumerate(unique):
            canvases[u, 0, :side, :side] = eta(side)
            canvases[u, 1, :side, :side] = eta(side).T
        which = tf.gather(tf.constant([unique.index(side) for side in sizes]), stage)
        flip = tf.random.stateless_uniform([], seeds[2], 0, 2, tf.int32)
        pattern = tf.roll(tf.constant(canvases)[which, flip], [vh, vw], [0, 1])[:, :, None]
        mask2 = _window(_position(seeds[3], height, s), _position(seeds[4], width, s), s, height, width)
        signs = _random_sign([tf.shape(x)[0], 1, 1, channels], seeds[5])
        return l2_update(x, x_best, eps, pattern * signs, mask, mask2)


def l2_update(x, x_best, eps, new, mask, mask2):
    """The reference's L2 window update: ``new`` (eta times its signs, zero outside the square
    ``mask``) plus the old perturbation of the square, normalised, is scaled to the norm of the
    perturbation in both squares plus the unused budget (per channel); the second square ``mask2``
    is zeroed, the square set to it, and the whole perturbation scaled to norm ``eps``."""
    channels = x.shape[-1]

    def window_norm(t):  # per example and channel
        return tf.sqrt(tf.reduce_sum(tf.square(t), axis=[1, 2], keepdims=True))

    delta = x_best - x
    free = tf.maximum(eps ** 2 - tf.square(per_example_norm(delta)), 0.0) / channels
    target_norm = tf.sqrt(free + tf.square(window_norm(delta * tf.maximum(mask, mask2))))
    new += delta * mask / (1e-12 + window_norm(delta * mask))
    new = new / (1e-12 + window_norm(new)) * target_norm
    delta = delta * (1.0 - mask2) * (1.0 - mask) + new
    return tf.clip_by_value(x + delta / (per_example_norm(delta) + 1e-12) * eps, 0.0, 1.0)
