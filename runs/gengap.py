"""Cross-generalization gap of Chen et al. (2020): test loss of the standard and the eps-robust
linear model against the training-set size, Monte Carlo (and exact where it has a closed form).

    python -m runs.gengap --flagfile=flags/gengap_gaussian.cfg        # Fig. 1 (Gaussian)
    python -m runs.gengap --setting=bernoulli --tau=0.1,0.7 --eps=0.2 --n_max=200 --reps=20000 \
        --output_dir=results/gengap/try

Writes, for setting S, into --output_dir: S_curves.csv (test losses and gap per tau, eps, n with
standard errors and exact values), S_shapes.csv (regime and peak of each gap curve), S_run.json
(config, timings), S_loss.png, S_gap.png and S_summary.md; prints one line per eps: whether the gap
keeps increasing or increases and then decreases, and where it peaks.
"""
from __future__ import annotations

import os
import sys
import time

from absl import flags

from runs import common
from tfrobust.theory.config import HELP, PAPER, SETTING_OPTIONS, SETTINGS

FLAGS = flags.FLAGS
flags.DEFINE_string("setting", None, HELP["setting"])
flags.DEFINE_list("eps", None, HELP["eps"] + " (default: the paper's grid for --setting)")
flags.DEFINE_list("tau", None, HELP["tau"] + " (default for bernoulli: 0.1,0.2,0.5,0.7)")
flags.DEFINE_list("n", None, HELP["n"])
flags.DEFINE_integer("n_max", None, "training-set sizes 1..n_max (default: the paper's range)")
flags.DEFINE_integer("reps", 100_000, HELP["reps"])
flags.DEFINE_integer("seed", 0, HELP["seed"])
flags.DEFINE_integer("dim", 1, HELP["dim"])
flags.DEFINE_list("mu", ["1"], HELP["mu"])
flags.DEFINE_list("sigma", ["2"], HELP["sigma"])
flags.DEFINE_float("W", 1.0, HELP["W"])
flags.DEFINE_float("x_std", 1.0, HELP["x_std"])
flags.DEFINE_float("noise_std", 1.0, HELP["noise_std"])
flags.DEFINE_list("w_star", ["1"], HELP["w_star"])
flags.DEFINE_float("poisson_rate", 5.0, HELP["poisson_rate"])
flags.DEFINE_float("poisson_shift", 1.0, HELP["poisson_shift"])
flags.DEFINE_string("solver", "auto", HELP["solver"])
flags.DEFINE_integer("exact_horizon", 100_000, HELP["exact_horizon"])
flags.DEFINE_string("output_dir", None, "directory for the CSV, PNG, JSON and markdown files")

MODEL_FLAGS = ("tau", "mu", "sigma", "W", "x_std", "noise_std", "w_star", "poisson_rate",
               "poisson_shift", "solver")


def _numbers(flag: str, values, kind=float):
    from tfrobust.errors import ConfigError

    out = []
    for text in values:
        try:
            out.append(kind(text))
        except ValueError:
            raise ConfigError(f"--{flag}={','.join(values)}: {text!r} is not a"
                              f"{'n integer' if kind is int else ' number'}") from None
    return tuple(out)


def build_config():
    """Flags -> a validated ``GapConfig``; a bad flag is a ConfigError naming it."""
    from tfrobust.errors import ConfigError
    from tfrobust.theory.config import GapConfig

    setting = FLAGS.setting
    if setting not in SETTINGS:
        raise ConfigError(f"--setting={setting} is not allowed; allowed: {', '.join(SETTINGS)}")
    for name in MODEL_FLAGS:
        if FLAGS[name].present and name not in SETTING_OPTIONS[setting]:
            users = [s for s in SETTINGS if name in SETTING_OPTIONS[s]]
            raise ConfigError(f"--{name} does not apply to --setting={setting}; "
                              f"it applies to: {', '.join(users)}")
    if not FLAGS.output_dir:
        raise ConfigError("--output_dir is required: the directory for the results")
    if os.path.exists(FLAGS.output_dir) and not os.path.isdir(FLAGS.output_dir):
        raise ConfigError(f"--output_dir={FLAGS.output_dir} is a file; allowed: a directory")
    if FLAGS.n is not None and FLAGS.n_max is not None:
        raise ConfigError("--n and --n_max are both given; allowed: one of them")
    paper = PAPER[setting]
    if FLAGS.n is not None:
        n = _numbers("n", FLAGS.n, int)
    elif FLAGS.n_max is not None:
        if FLAGS.n_max < 1:
            raise ConfigError(f"--n_max={FLAGS.n_max} is not allowed: allowed values are integers >= 1")
        n = tuple(range(1, FLAGS.n_max + 1))
    else:
        n = paper["n"]
    options = dict(
        setting=setting, n=n, reps=FLAGS.reps, seed=FLAGS.seed, dim=FLAGS.dim,
        eps=_numbers("eps", FLAGS.eps) if FLAGS.eps is not None else paper["eps"],
        tau=(_numbers("tau", FLAGS.tau) if FLAGS.tau is not None else paper.get("tau", ())),
        mu=_numbers("mu", FLAGS.mu), sigma=_numbers("sigma", FLAGS.sigma), W=FLAGS.W,
        x_std=FLAGS.x_std, noise_std=FLAGS.noise_std, w_star=_numbers("w_star", FLAGS.w_star),
        poisson_rate=FLAGS.poisson_rate, poisson_shift=FLAGS.poisson_shift, solver=FLAGS.solver,
        exact_horizon=FLAGS.exact_horizon)
    try:
        return GapConfig(**options)
    except ConfigError as e:  # the library names the option; on the command line it is a flag
        message = str(e)
        name = message.split("=", 1)[0]
        raise ConfigError(("--" + message) if name in FLAGS else message) from None


def main(argv):
    config = build_config()  # every check happens before TensorFlow loads and anything is written
    from analysis import gengap as report
    from tfrobust.theory import gengap, results

    common.say(f"{config.setting}: {len(config.tau) or 1} x {len(config.eps)} curves, "
               f"n = {config.n[0]}..{config.n[-1]} ({len(config.n)} sizes), {config.reps:,} repetitions")
    start = time.perf_counter()
    res = gengap.run(config)
    total = time.perf_counter() - start
    extra = {"seconds_total": total,
             "command": "python -m runs.gengap " + " ".join(sys.argv[1:])}
    results.write_results(res, FLAGS.output_dir, extra)
    paths = report.render(FLAGS.output_dir, config.setting)
    curves, shapes, _ = report.load(FLAGS.output_dir, config.setting)
    common.say(f"Monte Carlo {res.seconds_mc:.2f} s, exact {res.seconds_exact:.2f} s, total {total:.2f} s")
    lines = report.statements(shapes)
    for line in lines or [f"no gap shapes: {config.reps} repetition(s) give no standard errors"]:
        print(line)
    common.say("wrote " + ", ".join(os.path.basename(p) for p in paths.values())
               + f" and {config.setting}_{{curves,shapes}}.csv, {config.setting}_run.json in "
               + FLAGS.output_dir)


if __name__ == "__main__":
    common.run(main)
