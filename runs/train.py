"""Trains any registered model on any dataset, naturally or adversarially, then evaluates it.

    python -m runs.train --model=dense-300-100 --dataset=fashion_mnist --objective=madry \
        --attack=pgd:eps=0.1,step_size=0.02,steps=10 --train_iters=3000 --base_dir=results

The run lives in ``<base_dir>/<experiment>/<id>/`` (config.json, metrics.jsonl, results.json,
checkpoints/, tb/, model.keras) and, at the end, table.md, table.csv, accuracy.png and curves.png. Rerunning the same flags resumes from the last checkpoint, or
prints the finished results (``--force`` redoes the run). Every setting is a flag; see --help or
tfrobust/training/config.py. ``--flagfile=flags/...`` reads a flagfile.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.training.config import TrainConfig

FLAGS = flags.FLAGS
common.define_config_flags(TrainConfig)
flags.DEFINE_string("base_dir", "results", "Base output directory.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_bool("force", False, "Delete the run directory of this config and train again.")
common.define_integer("log_every", 100, "Print a progress line every this many iterations.", lower_bound=1)
flags.DEFINE_float("wait_for_lock", 0.0, "If another process is training this run, wait up to this many seconds "
                                         "for it (0: fail at once).", lower_bound=0.0)


def config_from_flags() -> TrainConfig:
    return common.config_from_flags(TrainConfig)


def main(argv):
    import os

    from tfrobust.analysis import curves, robustness, tables
    from tfrobust.build import build
    from tfrobust.experiment import RunDir
    from tfrobust.training import Trainer

    config = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    setup = build(config, FLAGS.data_dir)
    run = RunDir.for_config(FLAGS.base_dir, config.experiment, config, common.say, chief=setup.chief)
    trainer = Trainer(setup, run, progress=common.say, log_every=FLAGS.log_every, wait_for_lock=FLAGS.wait_for_lock)
    results = trainer.run(force=FLAGS.force)
    final = results["final"]
    if setup.chief:
        robustness.write_report(final["test"], run.path, title=f"{config.model} on {config.dataset}, test")
        curves.plot_curves(run.read_metrics(), os.path.join(run.path, "curves.png"),
                           title=f"{config.model}, {config.objective} training")
    print(f"run directory: {run.path}  (tables: table.md, table.csv; plots: accuracy.png, curves.png)")
    print(f"TensorBoard: tensorboard --logdir {run.tb_dir}")
    print(f"test accuracy after {final['step']} iterations:")
    print(tables.to_markdown(robustness.rows(final["test"])), end="")


if __name__ == "__main__":
    common.run(main)
