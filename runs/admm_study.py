"""The width study of Ye et al. (seed 000, Tables 2 and 5): natural and adversarial baselines at
every width, and every wide network pruned to the size of every narrower one by ADMM, by one-shot
magnitude pruning with adversarial fine-tuning, and as a lottery ticket.

    python -m runs.admm_study --flagfile=flags/admm_width_quick.cfg
    python -m runs.admm_study --flagfile=flags/admm_width_paper.cfg

Takes every flag of runs.admm (its stages, ADMM's settings, the shared training), except the
ratios, which each pair sets: each layer keeps the weights of the same layer at the target width.
Every run is a run directory under --base_dir (see tfrobust/pruning/width_study.py); rerunning
resumes. Writes <base_dir>/study.json, then table.md and accuracy_vs_compression.png
(runs.admm_report remakes them).
"""
from __future__ import annotations

from absl import flags

from . import admm as admm_command  # noqa: F401  (defines the pipeline's flags)
from . import common

FLAGS = flags.FLAGS
flags.DEFINE_list("widths", ["1", "2", "4", "8", "16"], "Widths ω of the model (its width option).")
flags.DEFINE_list("methods", ["admm", "oneshot", "admm-lt"], "Pruning methods: admm, oneshot (magnitude "
                                                                  "pruning + adversarial fine-tuning), admm-lt "
                                                                  "(the ADMM masks retrained from the initial weights).")
flags.DEFINE_list("lottery_from", [], "Widths that admm-lt prunes from (empty: all).")
FLAGS.set_default("model", "lenet")
FLAGS.set_default("prune_ratio", 0.5)  # a placeholder: every pair sets its ratios


def _ints(flag: str):
    from tfrobust.errors import ConfigError

    try:
        return [int(v) for v in getattr(FLAGS, flag)]
    except ValueError:
        raise ConfigError(f"--{flag}={','.join(getattr(FLAGS, flag))}: each item must be an integer") from None


def config_from_flags():
    """The template every pipeline of the study starts from (its ratios are set per pair)."""
    from tfrobust.errors import ConfigError

    if FLAGS.prune_ratios:
        raise ConfigError("--prune_ratios: the study sets each pair's ratios from the widths; leave it out")
    return admm_command.config_from_flags()


def main(argv):
    from tfrobust.analysis import admm as report
    from tfrobust.analysis import tables
    from tfrobust.pruning.width_study import WidthStudy

    config = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    study = WidthStudy(config, _ints("widths"), FLAGS.base_dir, methods=FLAGS.methods,
                       lottery_from=_ints("lottery_from"), data_dir=FLAGS.data_dir, progress=common.say,
                       log_every=FLAGS.log_every, final_attacks=admm_command.final_attack_specs(), final_examples=FLAGS.final_examples)
    record = study.run()
    if not study.setup.chief:
        return
    paths = report.write_study_report(record, FLAGS.base_dir)
    print(f"study: {FLAGS.base_dir}/study.json  tables: {paths['markdown']}  plot: {paths['plot']}")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.base_dir}")
    for method in record["pruned"] or ["admm"]:
        print(f"{method}: natural/{record['attack']} test accuracy (%)")
        print(tables.to_markdown(report.width_table(record, method)))
        for attack in record["final_attacks"]:
            print(f"{method}: natural/{attack} on {record['final_examples'] or 'all'} test images (%)")
            print(tables.to_markdown(report.width_table(record, method, attack)))


if __name__ == "__main__":
    common.run(main)
