"""A keras-tuner search for ADMM's per-layer prune ratios that hit a target compression rate.

    python -m runs.tune_prune --flagfile=flags/admm_tune_quick.cfg
    python -m runs.tune_prune --model=lenet:width=4 --target_compression=16 --oracle=bayesian --max_trials=12

Takes every flag of runs.admm (a trial is one ADMM pipeline: keep its schedule short), less the
ratios, which the tuner sets: one per layer in --layers (default: every prunable layer), in
[0, --max_ratio]. The objective is the robust validation accuracy under the first evaluation
attack; a trial below --target_compression is infeasible and never reported as best (see
tfrobust/pruning/search.py). Oracles: bayesian, hyperband, random.

Writes under --base_dir: every trial's run directories (shared pretraining), tuner/ (keras-tuner's
state: rerunning resumes the search), hparams/ (TensorBoard's HParams dashboard), search.md (the
trials, best first), best_ratios.cfg (a flagfile runs.admm takes) and, with --compare_uniform,
the pipeline with one uniform ratio at the best trial's compression, in comparison.md (with
--final_attack, both final models also under those attacks on --final_examples test images).

Distributed search, keras-tuner's own: start one chief and any number of workers with
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID (chief for the chief, any
other id for a worker), the same flags and the same --base_dir on a shared file system. The chief
serves the oracle and writes the reports when every worker is done.
"""
from __future__ import annotations

from absl import flags

from . import admm as admm_command  # noqa: F401  (defines the pipeline's flags)
from . import common

FLAGS = flags.FLAGS
flags.DEFINE_float("target_compression", 16.0, "Trials must compress the model at least this much "
                                               "(dense weights / remaining weights).")
flags.DEFINE_string("oracle", "bayesian", "keras-tuner oracle: bayesian, hyperband or random.")
common.define_integer("max_trials", 10, "Trials to run (bayesian and random).", lower_bound=1)
flags.DEFINE_float("max_ratio", 0.99, "The largest prune ratio a layer may get.")
flags.DEFINE_float("min_ratio", 0.01, "The smallest prune ratio a searched layer may get.")
flags.DEFINE_list("layers", [], "Layers whose ratios are searched (default: every prunable layer).")
flags.DEFINE_bool("compare_uniform", True, "After the search, run one uniform ratio at the best trial's "
                                           "compression and compare.")
flags.DEFINE_bool("overwrite", False, "Start the search over (keras-tuner's state), keeping the run directories.")
FLAGS.set_default("prune_ratio", 0.5)  # a placeholder: every trial sets its ratios
FLAGS.set_default("base_dir", "results/tune_prune")


def config_from_flags():
    """The template every trial starts from (the tuner sets its ratios)."""
    from tfrobust.errors import ConfigError

    if FLAGS.prune_ratios:
        raise ConfigError("--prune_ratios: the tuner sets the ratios; leave it out")
    return admm_command.config_from_flags()


def main(argv):
    import os

    from tfrobust.analysis import tables
    from tfrobust.build import build
    from tfrobust.errors import ConfigError
    from tfrobust.io import write_text_atomic
    from tfrobust.pruning import search
    from tfrobust.pruning.admm_pipeline import parse_final_attacks

    if FLAGS.oracle not in search.ORACLES:
        raise ConfigError(f"--oracle={FLAGS.oracle!r} is not allowed; allowed: {', '.join(search.ORACLES)}")
    template = config_from_flags()
    parse_final_attacks(admm_command.final_attack_specs())  # a bad spec fails before the search
    common.check_output_dir("base_dir", FLAGS.base_dir)
    role = search.distributed_role()
    setup = build(template.train, FLAGS.data_dir)
    model = setup.new_model()
    units = search.layer_units(model, template.sparsity)
    layers = list(FLAGS.layers) or list(units)
    unknown = [name for name in layers if name not in units]
    if unknown:
        raise ConfigError(f"--layers: no prunable layer named {unknown[0]!r}; known: {', '.join(units)}")
    search.check_target(units, layers, FLAGS.target_compression, FLAGS.max_ratio, FLAGS.min_ratio, template.sparsity)
    oracle = search.make_oracle(FLAGS.oracle, FLAGS.max_trials, template.train.seed)
    tuner = search.PruneRatioTuner(oracle, template, FLAGS.base_dir, FLAGS.target_compression, units, layers,
                                   FLAGS.max_ratio, FLAGS.min_ratio, setup=setup, progress=common.say, log_every=FLAGS.log_every,
                                   overwrite=FLAGS.overwrite)
    tuner.search(verbose=0 if FLAGS.quiet else 1)
    if role == "worker":
        print(f"worker {os.environ['KERASTUNER_TUNER_ID']} ran trials: {', '.join(tuner.ran)}")
        return
    rows = search.trial_rows(tuner.oracle, layers)
    best = search.best_feasible(tuner.oracle)[0]
    ratios = tuner.ratios(best.hyperparameters)
    m = best.metrics
    compression, accuracy = m.get_last_value("compression"), m.get_last_value(search.OBJECTIVE)
    comment = (f"runs.tune_prune: trial {best.trial_id}, compression {compression:.2f}x (target "
               f"{FLAGS.target_compression:g}x), robust valid accuracy {accuracy:.4f}")
    write_text_atomic(os.path.join(FLAGS.base_dir, "best_ratios.cfg"), search.ratios_flagfile(ratios, comment))
    write_text_atomic(os.path.join(FLAGS.base_dir, "search.md"), tables.to_markdown(rows))
    print(tables.to_markdown(rows))
    print(f"best: {comment}\n  --flagfile={os.path.join(FLAGS.base_dir, 'best_ratios.cfg')}")
    if FLAGS.compare_uniform:
        comparison = search.compare_uniform(tuner, ratios, compression, progress=common.say,
                                            final_attacks=parse_final_attacks(admm_command.final_attack_specs()),
                                            final_examples=FLAGS.final_examples)
        write_text_atomic(os.path.join(FLAGS.base_dir, "comparison.md"), tables.to_markdown(comparison))
        print(tables.to_markdown(comparison))


if __name__ == "__main__":
    common.run(main)
