"""Lottery tickets under adversarial training ("The Search for Sparse, Robust Neural Networks").

    python -m runs.lottery --dataset=fashion --attack=pgd --adv_train --trials=5 --base_dir=results/lottery
    python -m runs.lottery --flagfile=flags/lottery_fashion_quick.cfg

Takes the reference implementation's flags (--trials --train_iters --prune_iters --eval_every
--batch_size --valid_size --dataset --model --experiment --base_dir --attack --adv_train
--learning_rate --l1_reg --devices --force) with its defaults, except --devices (empty: one device)
and --base_dir (results/lottery). --attack=fgsm|pgd means the document's attacks (L-inf eps 0.3;
PGD: 10 steps of 0.05); any attack spec also works. The reference code's quirks are options,
off by default (the paper's description): --label_smoothing=0.1, --predicted_labels,
--orig_reset_source=trained; --reference_quirks turns on all three.

Writes <base_dir>/<experiment>/<id>/ (see tfrobust/pruning/lottery.py), then the tables and plots
of analysis.lottery for that run: table.md, table.csv, accuracy_vs_weights.png, curves.png and
early_stopping.png. `python -m runs.lottery_report --base_dir=...` compares every run of a base dir.
"""
from __future__ import annotations

from absl import flags

from runs import common
from tfrobust.pruning.config import LotteryConfig

FLAGS = flags.FLAGS
DOCUMENT_ATTACKS = {"fgsm": "fgsm:eps=0.3", "pgd": "pgd:eps=0.3,step_size=0.05,steps=10"}
DATASET_NAMES = {"digits": "mnist", "fashion": "fashion_mnist"}

# The reference implementation's flags and defaults.
flags.DEFINE_integer("trials", 10, "Number of trials per experiment.")
flags.DEFINE_integer("train_iters", 50000, "Training iterations per pruning round.")
flags.DEFINE_integer("prune_iters", 20, "Pruning rounds (round 0 trains the full network).")
flags.DEFINE_integer("eval_every", 500, "Evaluate on validation and test every this many iterations.")
flags.DEFINE_integer("batch_size", 60, "Batch size.")
flags.DEFINE_integer("valid_size", 10000, "Validation set size (carved from train).")
flags.DEFINE_string("dataset", "digits", "Source dataset: digits or fashion (or any tfrobust dataset spec).")
flags.DEFINE_string("model", "dense-300-100", "Model spec (any registered masked model).")
flags.DEFINE_string("experiment", "reinit_orig", "The experiment: reinit_orig, reinit_rand, reinit_none or no_pruning.")
flags.DEFINE_string("base_dir", "results/lottery", "Base output directory for results and checkpoints.")
flags.DEFINE_string("attack", "fgsm", "Attack for training and evaluation: fgsm, pgd (the document's "
                                      "settings) or an attack spec such as pgd:eps=0.1,steps=20.")
flags.DEFINE_bool("adv_train", False, "Train on a 50/50 mix of natural and adversarial examples.")
flags.DEFINE_float("learning_rate", 0.0012, "Adam learning rate.")
flags.DEFINE_float("l1_reg", 0.0, "L1 regularization penalty.")
flags.DEFINE_list("devices", [], "GPU devices to mirror over, e.g. 0,1 (empty: one device).")
flags.DEFINE_bool("force", False, "Delete this experiment's directory and run again.")
# Beyond the document.
flags.DEFINE_float("adv_weight", 0.5, "With --adv_train: weight of the adversarial loss.")
flags.DEFINE_multi_string("eval_attacks", [], "Attacks to evaluate with (default: --attack).")
flags.DEFINE_integer("eval_examples", 0, "Examples of each evaluation split to use (0: all).")
flags.DEFINE_integer("seed", 0, "Seed of trial 0 (trial t uses seed + t).")
flags.DEFINE_float("label_smoothing", 0.0, "Training label smoothing (the reference code used 0.1).")
flags.DEFINE_bool("predicted_labels", False, "Attacks use the model's predicted labels (as the reference code).")
flags.DEFINE_bool("reference_quirks", False, "All of the reference code's quirks: --label_smoothing=0.1 "
                                             "--predicted_labels --orig_reset_source=trained.")
flags.DEFINE_enum("strategy", None, ["default", "mirrored", "multi_worker"],
                  "tf.distribute strategy (default: mirrored if --devices, else default).")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_integer("log_every", 500, "Print a progress line every this many iterations.", lower_bound=1)
PRUNING_FIELDS = ("prune_rate", "output_prune_rate", "layer_prune_rates", "global_prune_rate", "skip_layers",
                  "rewind_iter", "orig_reset_source")
common.define_config_flags(LotteryConfig, only=PRUNING_FIELDS)


def attack_spec(value: str, predicted: bool) -> str:
    spec = DOCUMENT_ATTACKS.get(value, value)
    if predicted and "predicted_labels" not in spec:
        spec += ("," if ":" in spec else ":") + "predicted_labels=true"
    return spec


def config_from_flags() -> LotteryConfig:
    from tfrobust.training.config import TrainConfig

    quirks = FLAGS.reference_quirks
    predicted = FLAGS.predicted_labels or quirks
    devices = tuple(d if ":" in d else f"GPU:{d}" for d in FLAGS.devices)
    strategy = FLAGS.strategy or ("mirrored" if devices else "default")
    train = TrainConfig(
        experiment=FLAGS.experiment,
        model=FLAGS.model, dataset=DATASET_NAMES.get(FLAGS.dataset, FLAGS.dataset),
        valid_size=FLAGS.valid_size, batch_size=FLAGS.batch_size, train_iters=FLAGS.train_iters,
        eval_every=FLAGS.eval_every, eval_examples=FLAGS.eval_examples,
        step="adversarial" if FLAGS.adv_train else "natural",
        attack=attack_spec(FLAGS.attack, predicted), adv_weight=FLAGS.adv_weight,
        eval_attacks=tuple(attack_spec(a, predicted) for a in FLAGS.eval_attacks),
        label_smoothing=0.1 if quirks and FLAGS.label_smoothing == 0.0 else FLAGS.label_smoothing,
        l1_reg=FLAGS.l1_reg, optimizer="adam", learning_rate=FLAGS.learning_rate, seed=FLAGS.seed,
        strategy=strategy, devices=devices if strategy == "mirrored" else (),
    )
    lottery = common.config_values(LotteryConfig, only=PRUNING_FIELDS)
    return LotteryConfig(
        experiment=FLAGS.experiment, trials=FLAGS.trials, prune_iters=FLAGS.prune_iters, train=train,
        **{**lottery, **({"orig_reset_source": "trained"} if quirks else {})},
    )


def main(argv):
    from analysis import lottery as report
    from tfrobust.pruning import LotterySearch

    config = config_from_flags()
    search = LotterySearch(config, FLAGS.base_dir, FLAGS.data_dir, progress=common.say, log_every=FLAGS.log_every)
    results = search.run(force=FLAGS.force)
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
