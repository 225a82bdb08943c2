"""ATMC (Gui et al., seed 002) and its baselines: one method at one budget, as one resumable command.

    python -m runs.atmc --method=atmc --keep=0.01 --bits=8            # dense -> ATMC 32-bit -> 8-bit
    python -m runs.atmc --method=ap --keep=0.01                       # a baseline: da, nap, ap, al0, alr, qat
    python -m runs.atmc --flagfile=flags/atmc_paper.cfg --method=al0 --keep=0.05

Every method starts from a dense stage (adversarial: 0.5 clean + 0.5 PGD cross-entropy; natural
for nap) shared by every method and budget that trains the same way; each later stage is a run
directory under <base_dir>/atmc/<id>/ (see tfrobust/compression/atmc.py). A finished stage is not
redone, a killed one resumes from its checkpoint. Each reported model is evaluated under the
evaluation attacks (PGD, FGSM and WRM by default) and sized two ways: kept weights x bits against
the dense model's 32-bit weights (the paper's ratio), and the bytes of its int8 TFLite file and of
that file gzipped. Writes results.json and table.md in the run directory.
"""
from __future__ import annotations

from absl import flags

from . import common
from tfrobust.compression.atmc_config import AtmcConfig
from tfrobust.training.config import TrainConfig

FLAGS = flags.FLAGS
EPS = 0.3  # the paper's MNIST radius (76/255); 16 steps of 1.25 eps / 16, no random start (the reference's bug)
PAPER_ATTACK = f"pgd:eps={EPS},step_size={1.25 * EPS / 16},steps=16,random_start=false"
EVAL_ATTACKS = [PAPER_ATTACK, f"fgsm:eps={EPS}", f"wrm:gamma=1.3,steps=15,eps={EPS}"]
common.define_config_flags(AtmcConfig, exclude=("ranks",))
flags.DEFINE_list("ranks", [], "Factorized layers' ranks, layer:rank,... (alr: instead of --keep's global "
                               "truncation; atmc: below the full rank).")
TRAIN_EXCLUDE = ("experiment", "train_iters")  # each stage sets its own
common.define_config_flags(TrainConfig, exclude=TRAIN_EXCLUDE,
                           defaults={"model": "caffe-lenet", "objective": "mix", "attack": PAPER_ATTACK,
                                     "eval_attacks": EVAL_ATTACKS, "batch_size": 256, "optimizer": "sgd",
                                     "learning_rate": 1e-3, "eval_every": 1000})
flags.DEFINE_string("base_dir", "results/atmc", "Base output directory.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_bool("force", False, "Redo this pipeline's stages after the dense one (not a shared dense stage).")
common.define_integer("log_every", 100, "Print a progress line every this many iterations.", lower_bound=1)
flags.DEFINE_float("wait_for_lock", 0.0, "If another process is running this pipeline or its dense stage, "
                                         "wait up to this many seconds for it (0: fail at once).", lower_bound=0.0)


def config_from_flags() -> AtmcConfig:
    train = TrainConfig(**common.config_values(TrainConfig, exclude=TRAIN_EXCLUDE))
    return AtmcConfig(ranks=tuple(FLAGS.ranks), train=train, **common.config_values(AtmcConfig, exclude=("ranks",)))


def main(argv):
    from tfrobust.analysis import atmc as report
    from tfrobust.analysis import tables
    from tfrobust.compression.atmc import AtmcPipeline

    config = config_from_flags()
    common.check_output_dir("base_dir", FLAGS.base_dir)
    pipeline = AtmcPipeline(config, FLAGS.base_dir, FLAGS.data_dir, progress=common.say, log_every=FLAGS.log_every,
                            wait_for_lock=FLAGS.wait_for_lock)
    results = pipeline.run(force=FLAGS.force)
    if not pipeline.chief:
        return
    path = report.write_report(results, pipeline.root.path)
    print(f"run directory: {pipeline.root.path}  ({path})")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.base_dir}")
    print(tables.to_markdown(report.model_rows(results)), end="")


if __name__ == "__main__":
    common.run(main)
