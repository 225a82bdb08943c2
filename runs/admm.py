"""Concurrent adversarial training and ADMM pruning (Ye et al., seed 000): pretrain -> ADMM ->
hard prune -> masked retraining, as one resumable command.

    python -m runs.admm --model=lenet:width=16 --prune_ratios=conv_1:0.8,conv_2:0.947,fc_1:0.99,fc_2:0.93 \\
        --pretrain_iters=20000 --admm_iters=20000 --admm_every=4000 --retrain_iters=20000
    python -m runs.admm --flagfile=flags/admm_paper.cfg --model=lenet:width=16 --prune_ratio=0.9

Each stage is a run directory under <base_dir> (see tfrobust/pruning/admm_pipeline.py); a finished
stage is not redone, a killed one resumes from its checkpoint, and a pretraining run is shared by
every pipeline that pretrains the same way. The training loss is the adversarial loss alone
(--objective=madry), as in the paper; --objective=mix keeps the natural mix. --admm_iters=0 is
one-shot magnitude pruning with adversarial fine-tuning; --retrain_from=init retrains the pruned
network from its initial weights (the lottery ticket).

Writes results.json (per-layer remaining weights, the compression rate, natural and robust
accuracy per stage, the ||W - Z|| curve), table.md and residual.png in the run directory.
--final_attack=autoattack:eps=0.3 also evaluates the final model under AutoAttack, with the
sanity report, on the first --final_examples test images (kept in the retraining run's directory).
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.pruning.admm_config import AdmmConfig
from tfrobust.training.config import TrainConfig

FLAGS = flags.FLAGS
PAPER_ATTACK = "pgd:eps=0.3,step_size=0.01,steps=40"
common.define_config_flags(AdmmConfig, exclude=("prune_ratios",))
flags.DEFINE_list("prune_ratios", [], "Per-layer prune ratios, layer:ratio,... (the fraction of each layer's "
                                      "units removed), e.g. conv_1:0.8,fc_1:0.95.")
TRAIN_EXCLUDE = ("experiment", "train_iters")  # each stage sets its own
common.define_config_flags(TrainConfig, exclude=TRAIN_EXCLUDE,
                           defaults={"model": "lenet:width=16", "objective": "madry", "attack": PAPER_ATTACK,
                                     "eval_every": 1000})
flags.DEFINE_string("base_dir", "results/admm", "Base output directory.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_bool("force", False, "Redo this pipeline's ADMM and retraining stages (not a shared pretraining).")
common.define_integer("log_every", 200, "Print a progress line every this many iterations.", lower_bound=1)
flags.DEFINE_string("final_attack", "", "An attack spec the final model is also evaluated under, on the test "
                                        "split, with the sanity report (e.g. autoattack:eps=0.1).")
common.define_integer("final_examples", 0, "Test images the final attacks see (0: all).", "size", lower_bound=0)
flags.DEFINE_float("wait_for_lock", 0.0, "If another process is running this pipeline or its pretraining, "
                                         "wait up to this many seconds for it (0: fail at once).", lower_bound=0.0)


def final_attack_specs():
    """--final_attack as a list of specs (empty when not given)."""
    return [FLAGS.final_attack] if FLAGS.final_attack else []


def config_from_flags() -> AdmmConfig:
    train = TrainConfig(**common.config_values(TrainConfig, exclude=TRAIN_EXCLUDE))
    values = common.config_values(AdmmConfig, exclude=("prune_ratios",))
    return AdmmConfig(prune_ratios=tuple(FLAGS.prune_ratios), train=train, **values)


def main(argv):
    from tfrobust.analysis import admm as report
    from tfrobust.analysis import robustness, tables
    from tfrobust.pruning.admm_pipeline import AdmmPipeline, final_evaluation, parse_final_attacks

    config = config_from_flags()
    final_attacks = parse_final_attacks(final_attack_specs())
    common.check_output_dir("base_dir", FLAGS.base_dir)
    pipeline = AdmmPipeline(config, FLAGS.base_dir, FLAGS.data_dir, progress=common.say, log_every=FLAGS.log_every,
                            wait_for_lock=FLAGS.wait_for_lock)
    results = pipeline.run(force=FLAGS.force)
    if not pipeline.chief:
        return
    final_run = pipeline.stage_path(results, "retrain") if final_attacks else None  # checked before writing
    report.write_report(results, pipeline.root.path)
    print(f"run directory: {pipeline.root.path}  (table.md, residual.png)")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.base_dir}")
    print(f"{results['method']}: compression {results['compression']:.2f}x")
    print(tables.to_markdown(report.stage_rows(results)))
    print(tables.to_markdown(report.layer_rows(results)), end="")
    if final_attacks:
        final = final_evaluation(final_run, final_attacks, FLAGS.final_examples, pipeline.setup, config.train.seed,
                                 common.say)
        print(f"\nthe final model on {final['examples']} test images:")
        print(tables.to_markdown(robustness.rows(final["results"])), end="")
        for line in (final["checks"] or {}).get("warnings", []):
            print(f"warning: {line}")


if __name__ == "__main__":
    common.run(main)
