"""Seed 004's robustness test of a trained GTN's learners: Gaussian noise, Gaussian blur, 30-step
iterated FGSM and the L-BFGS-style attack, over grids of beta, for learners trained by the GTN's
first steps, by all its steps, and normally.

    python -m runs.gtn_robustness --flagfile=flags/gtn_robustness_quick.cfg
    python -m runs.gtn_robustness --gtn_dir=results/gtn --learners="linear conv:width=32" --seeds=5

--gtn_dir is a finished runs.gtn run directory, or the directory above it if it holds only one.

Writes <gtn_dir>/robustness/<id>/: per learner its records, then table.md (mean and std accuracy
per test, beta and training mode), robustness.png (accuracy against beta) and results.json.
Rerunning the same flags resumes; see tfrobust/gtn/robustness.py.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.gtn.robustness import RobustnessConfig

FLAGS = flags.FLAGS
common.define_config_flags(RobustnessConfig)
flags.DEFINE_string("gtn_dir", None, "The run directory of a finished runs.gtn run.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_bool("force", False, "Delete this study's run directory and test again.")


def config_from_flags() -> RobustnessConfig:
    return common.config_from_flags(RobustnessConfig)


def main(argv):
    from tfrobust.analysis import gtn as plots
    from tfrobust.analysis import tables
    from tfrobust.errors import ConfigError
    from tfrobust.gtn.robustness import RobustnessStudy

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # each learner is its own trace: TensorFlow's retracing notes are noise here
    config = config_from_flags()
    if not FLAGS.gtn_dir:
        raise ConfigError("--gtn_dir is required: the run directory of a finished runs.gtn run")
    study = RobustnessStudy(config, FLAGS.gtn_dir, FLAGS.data_dir, progress=common.say)
    report = study.run(force=FLAGS.force)
    print(f"run directory: {study.run_dir.path}  (table.md, robustness.png)")
    print(tables.to_markdown(plots.summary_rows(report)), end="")


if __name__ == "__main__":
    common.run(main)
