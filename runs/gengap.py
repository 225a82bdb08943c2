"""Cross-generalization gap of Chen et al. (2020): test loss of the standard and the eps-robust
linear model against the training-set size, Monte Carlo (and exact where it has a closed form).

    python -m runs.gengap --flagfile=flags/gengap_gaussian.cfg        # Fig. 1 (Gaussian)
    python -m runs.gengap --setting=bernoulli --tau=0.1,0.7 --eps=0.2 --n_max=200 --reps=20000 \
        --output_dir=results/gengap/try

Writes, for setting S, into --output_dir: S_curves.csv (test losses and gap per tau, eps, n with
standard errors and exact values), S_shapes.csv (regime and peak of each gap curve), S_run.json
(config, timings), S_loss.png, S_gap.png and S_summary.md; prints one line per eps: whether the gap
keeps increasing or increases and then decreases, and where it peaks.

Every flag but --n_max and --output_dir is a field of ``GapConfig`` (tfrobust/theory/config.py),
with its help text there; --eps, --n and --tau default to the setting's paper grid
(tfrobust/theory/settings.py).
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

from absl import flags

from . import common
from tfrobust.theory.config import GapConfig
from tfrobust.theory.settings import SETTINGS

FLAGS = flags.FLAGS
common.define_config_flags(GapConfig)  # one flag per field, with its help text
common.define_integer("n_max", None, "training-set sizes 1..n_max (default: the paper's range)", "size")
flags.DEFINE_string("output_dir", None, "directory for the CSV, PNG, JSON and markdown files")

# the options that describe a data model: a flag for another setting's model is a mistake
MODEL_FLAGS = tuple(f.name for f in dataclasses.fields(GapConfig) if SETTINGS.users(f.name))


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


def _flag_values(paper) -> dict:
    """GapConfig's field -> the flag's value, or the setting's paper value where the flag is absent."""
    values = {}
    for f in dataclasses.fields(GapConfig):
        if not FLAGS[f.name].present and f.name in paper:
            values[f.name] = paper[f.name]
        elif isinstance(f.default, tuple):  # a list flag
            values[f.name] = _numbers(f.name, FLAGS[f.name].value, int if "int" in str(f.type) else float)
        else:
            values[f.name] = FLAGS[f.name].value
    return values


def config_from_flags():
    """Flags -> a validated ``GapConfig``; a bad flag is a ConfigError naming it."""
    from tfrobust.errors import ConfigError

    setting = FLAGS.setting
    if setting not in SETTINGS:
        raise ConfigError(f"--setting={setting} is not allowed; allowed: {', '.join(SETTINGS.names())}")
    for name in MODEL_FLAGS:
        if FLAGS[name].present and name not in SETTINGS.get(setting).options:
            raise ConfigError(f"--{name} does not apply to --setting={setting}; "
                              f"it applies to: {', '.join(SETTINGS.users(name))}")
    if not FLAGS.output_dir:
        raise ConfigError("--output_dir is required: the directory for the results")
    common.check_output_dir("output_dir", FLAGS.output_dir)
    if FLAGS["n"].present and FLAGS.n_max is not None:
        raise ConfigError("--n and --n_max are both given; allowed: one of them")
    options = _flag_values(SETTINGS.get(setting).paper)
    if FLAGS.n_max is not None:
        if FLAGS.n_max < 1:
            raise ConfigError(f"--n_max={FLAGS.n_max} is not allowed: allowed values are integers >= 1")
        from tfrobust.config import check_memory
        from tfrobust.theory.config import CHUNK_BYTES

        # each size: an int in the grid and, in every data model's chunk, at least one number per repetition
        check_memory([("the sizes 1..n_max", (40 + CHUNK_BYTES) * FLAGS.n_max, ("n_max",))],
                     lambda name: f"--n_max={FLAGS.n_max}")
        options["n"] = tuple(range(1, FLAGS.n_max + 1))
    try:
        return GapConfig(**options)
    except ConfigError as e:  # the library names the option; on the command line it is a flag
        message = str(e)
        name = message.split("=", 1)[0]
        raise ConfigError(("--" + message) if name in FLAGS else message) from None


def main(argv):
    config = config_from_flags()  # every check happens before TensorFlow loads and anything is written
    from tfrobust.analysis import gengap as report
    from tfrobust.theory import gengap, results

    common.say(f"{config.setting}: {len(config.tau) or 1} x {len(config.eps)} curves, "
               f"n = {config.n[0]}..{config.n[-1]} ({len(config.n)} sizes), {config.reps:,} repetitions")
    start = time.perf_counter()
    res = gengap.run(config)
    total = time.perf_counter() - start
    extra = {"seconds_total": total,
             "command": " ".join([common.invocation("gengap"), *sys.argv[1:]])}
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
