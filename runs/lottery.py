"""Lottery tickets under adversarial training ("The Search for Sparse, Robust Neural Networks").

    python -m runs.lottery --dataset=fashion --attack=pgd --adv_train --trials=5 --base_dir=results/lottery
    python -m runs.lottery --flagfile=flags/lottery_fashion_pgd_quick.cfg

Takes the reference implementation's flags (--trials --train_iters --prune_iters --eval_every
--batch_size --valid_size --dataset --model --experiment --base_dir --attack --adv_train
--learning_rate --l1_reg --devices --force) with its defaults, except --devices (empty: one device)
and --base_dir (results/lottery). --experiment is the reset strategy (also --reset). The search's
flags come from LotteryConfig's fields and the rounds' from TrainConfig's, with their help text.
--attack=fgsm|pgd means the document's attacks (L-inf eps 0.3; PGD: 10 steps of 0.05); any attack
spec also works. The reference code's quirks are options, off by default (the paper's
description): --label_smoothing=0.1, --predicted_labels, --orig_reset_source=trained;
--reference_quirks turns on all three.

Writes <base_dir>/<reset>/<id>/ (see tfrobust/pruning/lottery.py), then the tables and plots
of analysis.lottery for that run: table.md, table.csv, accuracy_vs_weights.png, curves.png and
early_stopping.png. `python -m runs.lottery_report --base_dir=...` compares every run of a base dir.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.pruning.config import LotteryConfig
from tfrobust.training.config import TrainConfig

FLAGS = flags.FLAGS
DOCUMENT_ATTACKS = {"fgsm": "fgsm:eps=0.3", "pgd": "pgd:eps=0.3,step_size=0.05,steps=10"}
DATASET_NAMES = {"digits": "mnist", "fashion": "fashion_mnist"}

# The search's own settings, from LotteryConfig; --experiment is the document's name for --reset.
common.define_config_flags(LotteryConfig)
flags.DEFINE_alias("experiment", "reset")
# The training of each round, from TrainConfig, with the document's defaults.
TRAIN_FIELDS = ("train_iters", "eval_every", "batch_size", "valid_size", "dataset", "model", "learning_rate",
                "l1_reg", "eval_examples", "eval_batch_size", "compact_eval", "costly_eval_examples", "seed", "label_smoothing", "predicted_labels", "eval_attacks",
                "objective")
common.define_config_flags(
    TrainConfig, only=TRAIN_FIELDS,
    defaults={"train_iters": 50000, "dataset": "digits", "objective": ""},
    help={"dataset": "Source dataset: digits or fashion (or any tfrobust dataset spec).",
          "seed": "Seed of trial 0 (trial t uses seed + t).",
          "label_smoothing": "Training label smoothing (the reference code used 0.1).",
          "eval_attacks": "Attacks to evaluate with (default: --attack); fgsm and pgd mean the document's.",
          "objective": "Training objective spec (default: natural, or mix with --adv_weight if --adv_train)."})
# The document's flags that map onto several settings.
flags.DEFINE_string("base_dir", "results/lottery", "Base output directory for results and checkpoints.")
flags.DEFINE_string("attack", "fgsm", "Attack for training and evaluation: fgsm, pgd (the document's "
                                      "settings) or an attack spec such as pgd:eps=0.1,steps=20.")
flags.DEFINE_bool("adv_train", False, "Train on a 50/50 mix of natural and adversarial examples.")
flags.DEFINE_float("adv_weight", 0.5, "With --adv_train: weight of the adversarial loss.")
flags.DEFINE_list("devices", [], "GPU devices to mirror over, e.g. 0,1 (empty: one device).")
flags.DEFINE_bool("force", False, "Delete this experiment's directory and run again.")
flags.DEFINE_bool("reference_quirks", False, "All of the reference code's quirks: --label_smoothing=0.1 "
                                             "--predicted_labels --orig_reset_source=trained.")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy (default: mirrored if --devices, else default).")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
common.define_integer("log_every", 500, "Print a progress line every this many iterations.", lower_bound=1)
flags.DEFINE_float("wait_for_lock", 0.0, "If another process is running this search (or --trial), wait up to "
                                         "this many seconds for it (0: fail at once).", lower_bound=0.0)
common.define_integer("trial", None, "Run only this trial (0-based), e.g. one task of a cluster's job array; "
                                     "the search's results.json comes with the last trial to finish.")


def objective() -> str:
    """--objective, or the document's --adv_train (the 50/50 mix) with --adv_weight."""
    from tfrobust.errors import ConfigError

    if FLAGS.objective:
        if FLAGS["adv_train"].present or FLAGS["adv_weight"].present:
            raise ConfigError(f"--objective={FLAGS.objective} and --adv_train/--adv_weight both say how to "
                              "train; give one of them")
        return FLAGS.objective
    if not FLAGS.adv_train:
        if FLAGS["adv_weight"].present:
            raise ConfigError(f"--adv_weight={FLAGS.adv_weight} needs --adv_train")
        return "natural"
    w = FLAGS.adv_weight
    return "madry" if w == 1.0 else "mix" if w == 0.5 else f"mix:adv_weight={w}"


def config_from_flags() -> LotteryConfig:
    quirks = FLAGS.reference_quirks
    devices = tuple(d if ":" in d else f"GPU:{d}" for d in FLAGS.devices)
    strategy = FLAGS.strategy or ("mirrored" if devices else "default")
    train = common.config_values(TrainConfig, only=TRAIN_FIELDS)
    train.update(
        experiment=FLAGS.reset, dataset=DATASET_NAMES.get(FLAGS.dataset, FLAGS.dataset),
        objective=objective(), attack=DOCUMENT_ATTACKS.get(FLAGS.attack, FLAGS.attack),
        eval_attacks=tuple(DOCUMENT_ATTACKS.get(a, a) for a in FLAGS.eval_attacks),
        predicted_labels=FLAGS.predicted_labels or quirks,
        label_smoothing=0.1 if quirks and FLAGS.label_smoothing == 0.0 else FLAGS.label_smoothing,
        optimizer="adam", strategy=strategy, devices=devices if strategy == "mirrored" else ())
    lottery = common.config_values(LotteryConfig)
    if quirks:
        lottery["orig_reset_source"] = "trained"
    return LotteryConfig(train=TrainConfig(**train), **lottery)


def main(argv):
    from tfrobust.analysis import lottery as report
    from tfrobust.pruning import LotterySearch

    config = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    search = LotterySearch(config, FLAGS.base_dir, FLAGS.data_dir, progress=common.say, log_every=FLAGS.log_every,
                           wait_for_lock=FLAGS.wait_for_lock)
    results = search.run(force=FLAGS.force, trial=FLAGS.trial)
    if not search.chief:
        return
    paths = report.write_report([results], search.root.path)
    print(f"run directory: {search.root.path}")
    print(f"TensorBoard: tensorboard --logdir {search.root.path}")
    print("tables: " + ", ".join(p for k, p in paths.items() if k in ("markdown", "csv")))
    print("plots: " + ", ".join(p for k, p in paths.items() if k.endswith("plot")))
    print(open(paths["markdown"]).read(), end="")


if __name__ == "__main__":
    common.run(main)
