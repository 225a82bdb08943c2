"""Trains the zoo of adversarial-training variants of Stutz et al. (seed 001), with snapshots
through training, for runs.flatness_report to measure.

    python -m runs.flatness --flagfile=flags/flatness_quick.cfg
    python -m runs.flatness --variants="at trades:beta=6 mart awp:xi=0.005 label_noise:p=0.2" \
        --model=lenet:width=2 --dataset=fashion_mnist --train_iters=2000 --base_dir=results/flatness

Takes every flag of runs.train (the shared training: model, data, attack, optimizer, schedule)
but --experiment, which each variant sets. --variants lists the variants, separated by spaces:
a training objective's spec (trades, mart, awp, rwp, entropy_sgd, ...) or one of at,
label_smoothing, label_noise, weight_clip, weight_average, weight_decay, cyclic, rotation (see
tfrobust/flatness/zoo.py). Each is a run directory <base_dir>/<variant>/<id>/ that resumes when
rerun; the zoo's record is <base_dir>/zoo.json. --objective (madry by default) is the objective of
the variants that do not set their own; given explicitly beside variants that do, it is refused
(it would not apply to them). Two variants of one training run (at and madry on a madry
template, trades and trades:beta=6) are refused too.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.training.config import TrainConfig

FLAGS = flags.FLAGS
DEFAULT_VARIANTS = ("at trades:beta=6 mart:beta=6 awp:xi=0.005 label_smoothing:value=0.1 label_noise:p=0.1 "
                    "weight_clip:w_max=0.1 entropy_sgd rotation:weight=0.5")
common.define_config_flags(TrainConfig, exclude=("experiment",),
                           defaults={"model": "lenet:width=2", "objective": "madry",
                                     "attack": "pgd:eps=0.1,step_size=0.025,steps=7", "snapshots": True,
                                     "early_stopping": True})
flags.DEFINE_string("variants", DEFAULT_VARIANTS, "The variants to train, separated by spaces (each a training "
                                                  "objective's spec or a zoo variant's, see the module doc).")
flags.DEFINE_string("base_dir", "results/flatness", "Base output directory.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
common.define_integer("log_every", 100, "Print a progress line every this many iterations.", lower_bound=1)


def config_from_flags() -> TrainConfig:
    """The template every variant changes."""
    return TrainConfig(**common.config_values(TrainConfig, exclude=("experiment",)))


def main(argv):
    from tfrobust.analysis import flatness as report
    from tfrobust.analysis import tables
    from tfrobust.flatness.zoo import Zoo, check_objective

    template = config_from_flags()
    if FLAGS["objective"].present:  # a study-wide objective: no variant may replace it
        check_objective(template, FLAGS.variants.split())
    common.check_output_dir("base_dir", FLAGS.base_dir)
    zoo = Zoo(template, FLAGS.variants.split(), FLAGS.base_dir, FLAGS.data_dir, progress=common.say,
              log_every=FLAGS.log_every)
    record = zoo.run()
    if not zoo.setup.chief:
        return
    print(f"zoo: {FLAGS.base_dir}/zoo.json  (measure it: tfrobust-flatness-report (python -m runs.flatness_report) --base_dir={FLAGS.base_dir})")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.base_dir}")
    print(tables.to_markdown(report.zoo_rows(record)), end="")


if __name__ == "__main__":
    common.run(main)
