"""ATMC's MNIST figure (seed 002): natural and robust accuracy against the compression ratio for
ATMC and its baselines at several budgets, with the paper's size and the TFLite bytes side by side.

    python -m runs.atmc_study --flagfile=flags/atmc_quick.cfg
    python -m runs.atmc_study --flagfile=flags/atmc_paper.cfg

Takes every flag of runs.atmc (the stages, ATMC's settings, the shared training) except --method
and --keep, which the study sets: --methods, each at every --keeps (DA and QAT once). Every run is
a run directory under --base_dir; rerunning resumes. Writes <base_dir>/study.json, then table.md
and accuracy_vs_compression.png.
"""
from __future__ import annotations

from absl import flags

from . import atmc as atmc_command  # noqa: F401  (defines the pipeline's flags)
from . import common

FLAGS = flags.FLAGS
flags.DEFINE_list("methods", ["da", "nap", "ap", "al0", "alr", "atmc", "qat"], "Methods to run: atmc, da, nap, "
                                                                                 "ap, al0, alr, qat.")
flags.DEFINE_list("keeps", ["0.005", "0.02", "0.1"], "Budgets: fractions of the dense weights kept, in (0, 1].")
flags.DEFINE_string("final_attack", "", "An attack spec every final model is also evaluated under, on the test "
                                        "split, with the sanity report (e.g. autoattack:eps=0.1).")
common.define_integer("final_examples", 0, "Test images the final attack sees (0: all).", "size", lower_bound=0)


def config_from_flags():
    """The template every pipeline of the study starts from (each sets its method and budget)."""
    return atmc_command.config_from_flags()


def _keeps():
    from tfrobust.errors import ConfigError

    try:
        return [float(v) for v in FLAGS.keeps]
    except ValueError:
        raise ConfigError(f"--keeps={','.join(FLAGS.keeps)}: each item must be a number in (0, 1]") from None


def main(argv):
    from tfrobust.analysis import atmc as report
    from tfrobust.analysis import tables
    from tfrobust.compression.atmc_study import AtmcStudy

    template = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    study = AtmcStudy(template, FLAGS.methods, _keeps(), FLAGS.base_dir, FLAGS.data_dir, progress=common.say,
                      log_every=FLAGS.log_every, final_attacks=[FLAGS.final_attack] if FLAGS.final_attack else [],
                      final_examples=FLAGS.final_examples)
    record = study.run()
    if not study.setup.chief:
        return
    paths = report.write_study_report(record, FLAGS.base_dir)
    print(f"study: {FLAGS.base_dir}/study.json  table: {paths['markdown']}  plot: {paths['plot']}")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.base_dir}")
    print(tables.to_markdown(report.study_rows(record)), end="")


if __name__ == "__main__":
    common.run(main)
