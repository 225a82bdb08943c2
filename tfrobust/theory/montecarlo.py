"""Monte Carlo estimate of the natural test loss of the standard and the eps-robust ERM against n.

Vectorised over repetitions, training-set sizes and eps: one compiled call handles a chunk of
repetitions. Each repetition draws ``max(n)`` points once; the training set of size ``n`` is its
first ``n`` points (nested training sets), and every model of that repetition (standard and each
eps) sees the same training sets. Each ``n``'s estimate is therefore unbiased with the usual
standard error, while the curves across ``n`` and eps share randomness (common random numbers),
which makes differences between them -- the gap above all -- much less noisy. The gap's standard
error is the paired one: the spread of ``L_rob - L_std`` over repetitions.

The test loss of each fitted ``w`` is its population natural loss (closed form, see
:mod:`tfrobust.theory.distributions`), so the only Monte Carlo noise is over training sets. What one
chunk computes is the data model's own kernel, ``dist.monte_carlo_losses``; this module only
seeds, chunks and merges.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfrobust.errors import ConfigError
from tfrobust.theory.dtype import DTYPE

# A chunk's largest intermediate tensor holds about this many float64 numbers (~64 MB).
CHUNK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class MonteCarloCurves:
    """Means and standard errors over ``reps`` repetitions. Shapes: ``[N]`` or ``[E, N]``."""

    n: np.ndarray
    eps: np.ndarray
    reps: int
    loss_std: np.ndarray
    loss_std_se: np.ndarray
    loss_rob: np.ndarray
    loss_rob_se: np.ndarray
    gap: np.ndarray
    gap_se: np.ndarray
    gap_cov: np.ndarray  # [E, N, N]: covariance of the gap means across n (paired, nested sets)
    seconds: float


class _Moments:
    """Running count / mean / sum of squared deviations, merged chunk by chunk (Chan et al.)."""

    def __init__(self):
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    def add(self, count, mean, m2):
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * count / total)
        self.count = total

    def add_outer(self, count, mean, m2):
        """As :meth:`add` for ``m2`` holding cross products over the last axis: ``[..., N, N]``."""
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta[..., :, None] * delta[..., None, :] * (self.count * count / total)
        self.count = total

    def se(self):
        if self.count < 2:
            return np.full_like(np.asarray(self.mean, dtype=float), np.nan)
        return np.sqrt(self.m2 / (self.count - 1) / self.count)

    def cov_of_mean(self):
        if self.count < 2:
            return np.full_like(np.asarray(self.m2, dtype=float), np.nan)
        return self.m2 / (self.count - 1) / self.count


def _moments(values, axis):
    mean = tf.reduce_mean(values, axis=axis, keepdims=True)
    m2 = tf.reduce_sum(tf.square(values - mean), axis=axis)
    return tf.squeeze(mean, axis=axis), m2


def _outer_moments(values):
    """Mean over repetitions and the cross-product matrix across n: ``[E, R, N] -> [E, N], [E, N, N]``."""
    mean = tf.reduce_mean(values, axis=1, keepdims=True)
    centred = values - mean
    return mean[:, 0], tf.linalg.matmul(centred, centred, transpose_a=True)


@functools.lru_cache(maxsize=64)
def _compiled_chunk(dist, n: tuple, eps: tuple, solver: str):
    """One compiled chunk function per problem (cached: repeated runs do not retrace)."""
    n_max = n[-1]
    n_t = tf.constant(n, tf.int32)
    eps_t = tf.constant(eps, DTYPE)

    # the chunk size is a tensor of unknown value: one trace serves every chunk, the last included
    @tf.function(input_signature=[tf.TensorSpec([2], tf.int64), tf.TensorSpec([], tf.int32)])
    def run_chunk(seed_t, count):
        loss_std, loss_rob = dist.monte_carlo_losses(seed_t, count, n_max, n_t, eps_t, solver)
        gap = loss_rob - loss_std[None]
        return _moments(loss_std, 0) + _moments(loss_rob, 1) + _outer_moments(gap)

    return run_chunk


def chunk_size(dist, n_max: int, n_sizes: int, n_eps: int, solver: str = "auto") -> int:
    """Repetitions per compiled call; depends only on the problem, so results are reproducible."""
    per_rep = dist.chunk_cost(n_max, n_sizes, n_eps, solver)
    return int(max(16, CHUNK_ELEMENTS // per_rep))


def simulate(dist, n, eps, reps: int, seed: int = 0, stream: int = 0, solver: str = "auto",
             chunk: int | None = None) -> MonteCarloCurves:
    """Monte Carlo test-loss curves for ``dist`` over training-set sizes ``n`` and adversary ``eps``.

    ``seed`` and ``stream`` (e.g. the index of a tau) fix every random number; chunk ``c`` of the
    repetitions uses the stateless seed ``(seed, stream * 2**20 + c)``.
    """
    n = np.asarray(sorted(set(int(v) for v in n)), dtype=np.int32)
    eps = np.asarray(eps, dtype=np.float64)
    if reps < 1:
        raise ConfigError(f"reps={reps} is not allowed: allowed values are integers >= 1")
    n_max = int(n[-1])
    chunk = chunk or chunk_size(dist, n_max, len(n), len(eps), solver)
    run_chunk = _compiled_chunk(dist, tuple(int(v) for v in n), tuple(float(e) for e in eps), solver)

    start = time.perf_counter()
    acc = [_Moments(), _Moments(), _Moments()]
    done, index = 0, 0
    while done < reps:
        count = min(chunk, reps - done)
        seed_t = tf.constant([seed, stream * 2 ** 20 + index], tf.int64)
        out = [t.numpy() for t in run_chunk(seed_t, tf.constant(count, tf.int32))]
        acc[0].add(count, out[0], out[1])
        acc[1].add(count, out[2], out[3])
        acc[2].add_outer(count, out[4], out[5])
        done, index = done + count, index + 1
    seconds = time.perf_counter() - start
    std, rob, gap = acc
    cov = gap.cov_of_mean()
    gap_se = np.sqrt(np.maximum(np.diagonal(cov, axis1=-2, axis2=-1), 0.0))
    return MonteCarloCurves(n=n, eps=eps, reps=reps, loss_std=std.mean, loss_std_se=std.se(),
                            loss_rob=rob.mean, loss_rob_se=rob.se(), gap=gap.mean, gap_se=gap_se,
                            gap_cov=cov, seconds=seconds)
