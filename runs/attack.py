"""Evaluates a saved model naturally and under attacks, and prints a table.

    python -m runs.attack --model_path=results/train_pgd_quick/<id>/model.keras --dataset=fashion_mnist \
        --attacks=fgsm:eps=0.1 --attacks=pgd:eps=0.1,step_size=0.01,steps=20 \
        --output_dir=results/train_pgd_quick/<id>

    python -m runs.attack --flagfile=flags/autoattack_standard.cfg --model_path=<model.keras>

Attack specs are ``name:key=value,...``; names: fgsm, pgd, iterated_fgsm, lbfgs, wrm,
gaussian_noise, gaussian_blur, apgd, apgd_t, fab, fab_t, square, autoattack, cw_l2, deepfool. Every evaluation runs
the sanity checks of ``tfrobust.sanity`` (--nochecks turns them off) and prints their warnings.
With --output_dir, writes results.json (with the checks), table.md, table.csv and accuracy.png,
and for AutoAttack stages.md and robustbench.json (accuracy, time and passes per stage).
"""
from __future__ import annotations

import os
import time

from absl import flags

from . import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "A .keras model file (from runs.train); required.")
flags.DEFINE_bool("trust_model_file", False, "Also load H5/SavedModel files and Lambda-layer code: they "
                  "can run code when loaded, so only for files you made.")
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset spec name[:option=value,...]: fashion_mnist, mnist, cifar10, synthetic (e.g. synthetic:image_shape=10x10x1).")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_enum("split", "test", ["test", "valid"], "Which split to evaluate.")
common.define_integer("valid_size", 0, "Examples carved from train for validation.", "size", lower_bound=0)
common.define_integer("batch_size", 1000, "Evaluation batch size (larger is faster where memory allows; evaluation "
                      "PGD's results do not depend on it).", "size", lower_bound=1)
flags.DEFINE_bool("compact", True, "Attacks that allow it (PGD) attack only the examples still classified "
                  "correctly, in full batches: the same accuracy in less time; the loss of a broken example is "
                  "that of the first adversarial point found. --nocompact: every example, every restart.")
common.define_integer("max_examples", None, "Evaluate only the first N examples.", "size", lower_bound=1)
flags.DEFINE_multi_string(
    "attacks", ["fgsm:eps=0.1", "pgd:eps=0.1,step_size=0.01,steps=20"],
    "Attack specs name:key=value,... (repeat the flag for several).",
)
common.define_integer("seed", 0, "Seed for data shuffling and random attack starts.", "seed", lower_bound=0)
flags.DEFINE_string("output_dir", None, "Write results.json, table.md, table.csv, accuracy.png here.")
flags.DEFINE_bool("checks", True, "Run the sanity checks of the evaluation (tfrobust.sanity) and report "
                  "their warnings.")
common.define_integer("check_examples", 100, "Examples the sanity checks run on (the first ones).", "size",
                      lower_bound=1)


def config_from_flags() -> dict:
    """The evaluation the flags ask for, every attack spec parsed and checked (no model, no data)."""
    from tfrobust.attacks import from_spec
    from tfrobust.errors import ConfigError

    attacks = {attack.label: attack for attack in (from_spec(spec, "attacks") for spec in FLAGS.attacks)}
    if FLAGS.split == "valid" and FLAGS.valid_size == 0:
        raise ConfigError("--split=valid needs --valid_size > 0")
    return {"dataset": FLAGS.dataset, "split": FLAGS.split, "max_examples": FLAGS.max_examples,
            "checks": FLAGS.checks, "attacks": attacks}


def main(argv):
    from tfrobust.analysis import robustness, tables
    from tfrobust.errors import ConfigError
    from tfrobust.evaluation import evaluate
    from tfrobust.io import write_json_atomic, write_text_atomic
    from tfrobust.saving import load_model

    attacks = config_from_flags()["attacks"]
    if not FLAGS.model_path:
        raise ConfigError("--model_path is required: the .keras model file to evaluate")

    if FLAGS.output_dir:
        common.check_output_dir("output_dir", FLAGS.output_dir)
    model = load_model(FLAGS.model_path, trust=FLAGS.trust_model_file)
    splits = common.load_data(FLAGS.dataset, batch_size=FLAGS.batch_size, valid_size=FLAGS.valid_size,
                              seed=FLAGS.seed, data_dir=FLAGS.data_dir)
    if tuple(model.input_shape[1:]) != tuple(splits.input_shape):
        raise ConfigError(
            f"--model_path takes inputs of shape {tuple(model.input_shape[1:])} but --dataset="
            f"{FLAGS.dataset} has {tuple(splits.input_shape)}"
        )
    if model.output_shape[-1] < splits.num_classes:
        raise ConfigError(f"--dataset={FLAGS.dataset} has {splits.num_classes} classes but --model_path outputs "
                          f"{model.output_shape[-1]}")
    for spec, attack in zip(FLAGS.attacks, attacks.values()):
        try:
            attack.check_input(splits.input_shape)
            attack.check_classes(splits.num_classes)
        except ConfigError as e:
            raise ConfigError(f"--attacks={spec}: {e}") from None
    dataset = splits.test if FLAGS.split == "test" else splits.valid
    n = FLAGS.max_examples or (splits.test_size if FLAGS.split == "test" else splits.valid_size)
    common.say(f"evaluating {FLAGS.model_path} on {n} {FLAGS.split} examples of {FLAGS.dataset} "
               f"({splits.source}) under {len(attacks)} attack(s)")
    start = time.time()
    results = evaluate(model, dataset, attacks, max_examples=FLAGS.max_examples,
                       log_every=0 if FLAGS.quiet else 10, seed=FLAGS.seed, checks=FLAGS.checks, compact=FLAGS.compact,
                       check_examples=FLAGS.check_examples)
    common.say(f"done in {time.time() - start:.1f}s")
    print(tables.to_markdown(robustness.rows(results)), end="")
    stages = robustness.stage_rows(results)
    if stages:
        print(tables.to_markdown(stages), end="")
    if results.checks is not None:
        warnings = results.checks["warnings"]
        print(f"sanity checks on {results.checks['examples']} examples: "
              + (f"{len(warnings)} warning(s)" if warnings else "no warnings"))
        for line in warnings:
            print(f"  warning: {line}")
    if FLAGS.output_dir:
        about = {"model_path": os.path.abspath(FLAGS.model_path), "dataset": FLAGS.dataset,
                 "split": FLAGS.split, "source": splits.source}
        paths = robustness.write_report(results, FLAGS.output_dir,
                                        title=f"{os.path.basename(FLAGS.model_path)} on {FLAGS.dataset}")
        if stages:
            paths["stages"] = os.path.join(FLAGS.output_dir, "stages.md")
            write_text_atomic(paths["stages"], tables.to_markdown(stages))
            paths["robustbench"] = os.path.join(FLAGS.output_dir, "robustbench.json")
            write_json_atomic(paths["robustbench"], robustness.robustbench_record(results, **about))
        write_json_atomic(os.path.join(FLAGS.output_dir, "results.json"),
                          {**about, "results": results, "checks": results.checks})
        common.say(f"wrote results.json, {', '.join(os.path.basename(p) for p in paths.values())} "
                   f"in {FLAGS.output_dir}")


if __name__ == "__main__":
    common.run(main)
