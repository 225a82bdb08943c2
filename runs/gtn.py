"""Meta-trains a Generative Teaching Network (seed 004), resumably.

    python -m runs.gtn --flagfile=flags/gtn_quick.cfg
    python -m runs.gtn --dataset=fashion_mnist --learner=conv:width=16 --outer_iters=300 --base_dir=results

The run lives in <base_dir>/<experiment>/<id>/: config.json, metrics.jsonl (validation every
--valid_every outer iterations), tb/ (TensorBoard), checkpoints/ (generator, curriculum, learned
rates and momenta, Adam's state), then samples.png, curves.png and results.json
(validation and test accuracy of a learner trained by the first --few_steps and by all inner
steps, against one epoch of real data). Rerunning the same flags resumes. Test the GTN's
learners' robustness with python -m runs.gtn_robustness --gtn_dir=<the run directory>.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.gtn.config import GTNConfig

FLAGS = flags.FLAGS
common.define_config_flags(GTNConfig)
flags.DEFINE_string("base_dir", "results", "Base output directory.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_bool("force", False, "Delete the run directory of this config and train again.")
common.define_integer("log_every", 10, "Print a progress line every this many outer iterations.", lower_bound=1)


def config_from_flags() -> GTNConfig:
    return common.config_from_flags(GTNConfig)


def main(argv):
    import os

    from tfrobust.analysis import gtn as plots
    from tfrobust.analysis import tables
    from tfrobust.gtn.meta import MetaTraining, load_splits

    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # each learner width is its own trace: TensorFlow's retracing notes are noise here
    config = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    training = MetaTraining(config, load_splits(config, FLAGS.data_dir), FLAGS.base_dir, progress=common.say,
                            log_every=FLAGS.log_every)
    results = training.run(force=FLAGS.force)
    run = training.run_dir
    plots.curves(run.read_metrics(), os.path.join(run.path, "curves.png"))
    print(f"run directory: {run.path}  (samples.png, curves.png)")
    print(f"TensorBoard: tensorboard --logdir {run.tb_dir}")
    print(f"robustness: tfrobust-gtn-robustness (python -m runs.gtn_robustness) --gtn_dir={run.path}")
    print(tables.to_markdown(plots.accuracy_rows(results, config)), end="")


if __name__ == "__main__":
    common.run(main)
