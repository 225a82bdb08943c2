"""Gap Monte Carlo speed: tfrobust's vectorised run against per-training-set loops, same run.

    python -m benchmarks.gengap_timing                                  # Gaussian grid, R = 100,000
    python -m benchmarks.gengap_timing --setting=gaussian_regression --reps=100000

References (timed on --ref_reps repetitions, then scaled linearly to --reps):
* "loop, closed form": one NumPy fit per (eps, n, repetition) with the same estimator (sign rule,
  or the same exact piecewise-quadratic 1-d solver for regression) -- what a plain loop costs;
* "loop, 100 SGD steps" (classification): the seed's companion code fits each model by 100
  full-batch gradient steps with clipping; done here in NumPy, which is faster than its torch loop.
Prints seconds and the ratio reference / tfrobust (> 1: tfrobust is faster).
"""
from __future__ import annotations

import time

import numpy as np
from absl import app, flags

from benchmarks import common
from tfrobust.theory.settings import SETTINGS

FLAGS = flags.FLAGS
flags.DEFINE_enum("setting", "gaussian", SETTINGS.names(), "Which figure's grid to time.")
flags.DEFINE_integer("reps", 100_000, "Monte Carlo repetitions of the timed tfrobust run.", lower_bound=1)
flags.DEFINE_integer("ref_reps", 300, "Repetitions actually run by the loop references.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed tfrobust runs (median reported).", lower_bound=1)


def loop_closed_form(dist, n_list, eps_list, reps, seed=0):
    """One fit per (eps, n, repetition) with NumPy; returns the mean gap (for a sanity check)."""
    rng = np.random.default_rng(seed)
    classification = dist.kind == "classification"
    total = np.zeros((len(eps_list), len(n_list)))
    for _ in range(reps):
        for k, n in enumerate(n_list):
            x, y = _sample(dist, rng, n)
            if classification:
                m = (y[:, None] * x).mean(0)
                l_std = _loss(dist, np.where(np.abs(m) > 0, dist.W * np.sign(m), 0.0))
            else:
                l_std = _loss(dist, np.array([(x[:, 0] * y).sum() / (x[:, 0] ** 2).sum()]))
            for e, eps in enumerate(eps_list):
                if classification:
                    w = np.where(np.abs(m) > eps, dist.W * np.sign(m), 0.0)
                else:
                    w = np.array([_exact_1d_numpy(x[:, 0], y, eps)])
                total[e, k] += _loss(dist, w) - l_std
    return total / reps


def _loss(dist, w):
    """Population natural loss in NumPy (as ``dist.natural_loss``, without TensorFlow overhead)."""
    from tfrobust.theory.distributions import (BernoulliClassification, GaussianClassification,
                                               GaussianRegression)

    if isinstance(dist, GaussianClassification):
        return -float(w @ np.array(dist.mu))
    if isinstance(dist, BernoulliClassification):
        return -dist.tau * float(w.sum())
    delta = w - np.array(dist.w_star)
    if isinstance(dist, GaussianRegression):
        return dist.x_std ** 2 * float(delta @ delta) + dist.noise_std ** 2
    mean = dist.rate + dist.shift
    return dist.rate * float(delta @ delta) + mean ** 2 * float(delta.sum()) ** 2 + dist.noise_std ** 2


def loop_sgd(dist, n_list, eps_list, reps, steps=100, lr=0.1, seed=0):
    """The seed's way for classification: gradient steps on -y<w,x> + eps|w|_1, clip to the box."""
    rng = np.random.default_rng(seed)
    for _ in range(reps):
        for n in n_list:
            x, y = _sample(dist, rng, n)
            for eps in [0.0] + list(eps_list):
                w = rng.uniform(-1, 1, size=x.shape[1])
                for _ in range(steps):
                    grad = -(y[:, None] * x).mean(0) + eps * np.sign(w)
                    w = np.clip(w - lr * grad, -dist.W, dist.W)


def _sample(dist, rng, n):
    from tfrobust.theory.distributions import (BernoulliClassification, GaussianClassification,
                                               GaussianRegression)

    y = rng.choice([-1.0, 1.0], size=n)
    if isinstance(dist, GaussianClassification):
        return y[:, None] * np.array(dist.mu) + np.array(dist.sigma) * rng.normal(size=(n, dist.dim)), y
    if isinstance(dist, BernoulliClassification):
        agree = rng.uniform(size=(n, dist.dim)) < (1 + dist.tau) / 2
        return y[:, None] * np.where(agree, 1.0, -1.0), y
    if isinstance(dist, GaussianRegression):
        x = dist.x_std * rng.normal(size=(n, dist.dim))
    else:
        x = dist.shift + rng.poisson(dist.rate, size=(n, dist.dim)).astype(float)
    return x, x @ np.array(dist.w_star) + dist.noise_std * rng.normal(size=n)


def _exact_1d_numpy(x, y, eps):
    """The same piecewise-quadratic minimisation as tfrobust's exact 1-d solver, one problem."""
    kinks = np.append(y / x, 0.0)
    candidates = list(kinks)
    order = np.sort(kinks)
    edges = np.concatenate([[order[0] - 1.0], (order[:-1] + order[1:]) / 2, [order[-1] + 1.0]])
    for mid in edges:  # the stationary point of the quadratic valid around each piece
        s, sigma = np.sign(y - mid * x), np.sign(mid) or 1.0
        c = -s * x + eps * sigma
        quad = (c * c).sum()
        if quad > 0:
            candidates.append(-(s * y * c).sum() / quad)
    candidates = np.array(candidates)
    values = ((np.abs(y[None] - candidates[:, None] * x[None]) + eps * np.abs(candidates)[:, None]) ** 2).mean(1)
    return candidates[np.argmin(values)]


def main(argv):
    from tfrobust.theory import gengap, montecarlo
    from tfrobust.theory.config import paper_config

    config = paper_config(FLAGS.setting, reps=FLAGS.reps)
    dist = gengap.distributions(config)[0]
    n, eps = list(config.n), [e for e in config.eps if e > 0]
    fits = len(eps) * len(n) * FLAGS.reps * len(gengap.distributions(config))
    print(f"{FLAGS.setting}: {len(gengap.distributions(config))} x {len(config.eps)} eps x {len(n)} n x "
          f"{FLAGS.reps:,} repetitions ({fits:,} robust fits), {common.describe_device()}")

    def ours():
        return [montecarlo.simulate(d, n, config.eps, FLAGS.reps, seed=config.seed, stream=i)
                for i, d in enumerate(gengap.distributions(config))]

    ours()  # trace once
    times = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        ours()
        times.append(time.perf_counter() - start)
    ours_s = float(np.median(times))

    variants = len(gengap.distributions(config))
    start = time.perf_counter()
    loop_closed_form(dist, n, eps, FLAGS.ref_reps)
    loop_s = (time.perf_counter() - start) * FLAGS.reps / FLAGS.ref_reps * variants
    rows = [("tfrobust vectorised (median of %d)" % FLAGS.repeats, ours_s, None),
            ("loop, closed form (NumPy)", loop_s, FLAGS.ref_reps)]
    if dist.kind == "classification":
        sgd_reps = max(1, FLAGS.ref_reps // 20)
        start = time.perf_counter()
        loop_sgd(dist, n, eps, sgd_reps)
        rows.append(("loop, 100 SGD steps per fit (seed-style)",
                     (time.perf_counter() - start) * FLAGS.reps / sgd_reps * variants, sgd_reps))
    for label, seconds, ran in rows:
        note = f"  (ran {ran:,} repetitions, scaled)" if ran else ""
        print(f"  {label:44s} {seconds:10.2f} s   ratio to tfrobust {seconds / ours_s:9.1f}{note}")


if __name__ == "__main__":
    app.run(main)
