"""What ADMM costs over plain adversarial training, per iteration, as ratios taken in one run.

    python -m benchmarks.admm_overhead          # lenet w4 and w16 @ 64, PGD-10 madry training

An ADMM iteration is the training step with the penalty rho/2 ||W - Z + U||^2 in the loss, plus,
every ``admm_every`` iterations, one Z/U update (a projection of every pruned layer, in NumPy).
The benchmark times the plain step and the penalised step (interleaved, median of --repeats calls
of --iters steps), and one update on its own; the amortised ratio at period P is
(penalised step + update / P) / plain step, printed for the quick study's P=100 and the paper's
P=3750.
"""
from __future__ import annotations

import time

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("case", ["lenet:width=4@64", "lenet:width=16@64"], "model spec@batch size")
flags.DEFINE_integer("iters", 20, "Training steps per timed call.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed calls of each loop (median reported).", lower_bound=1)
flags.DEFINE_float("ratio", 0.9, "The prune ratio of every layer.")
flags.DEFINE_string("sparsity", "irregular", "irregular, filter or column.")
PERIODS = (100, 3750)


class _Trainer:
    def __init__(self, model, strategy):
        self.model, self.setup = model, type("Setup", (), {"strategy": strategy})()


def main(argv):
    import tensorflow as tf

    from tfrobust import models
    from tfrobust.build import check
    from tfrobust.layers.compressible import prunable_variables
    from tfrobust.pruning.admm import Admm
    from tfrobust.training.config import TrainConfig
    from tfrobust.training.loop import make_train_step
    from tfrobust.training.optim import make_optimizer

    common.set_seeds(0)
    print(f"{common.describe_device()}")
    for case in FLAGS.case:
        spec, _, batch = case.rpartition("@")
        batch = int(batch)
        x, y, source = common.image_batch(batch)
        config = TrainConfig(model=spec, batch_size=batch, objective="madry", attack="pgd:eps=0.1,step_size=0.025,steps=10")
        parts = check(config)
        strategy = tf.distribute.get_strategy()
        iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
        steps = {}
        for label in ("plain", "admm"):
            model = models.build_model(parts.model_name, x.shape[1:], 10, **parts.model_options)
            regularizers = tuple(parts.regularizers)
            if label == "admm":
                admm = Admm({p.name: FLAGS.ratio for p in prunable_variables(model)}, FLAGS.sparsity, every=100)
                trainer = _Trainer(model, strategy)
                admm.state(trainer)
                admm.before_train(trainer, 0)
                admm_model = model
                regularizers += (admm.penalty,)
            step = make_train_step(model, make_optimizer(config), parts.objective, regularizers, strategy,
                                   config.batch_size, config.seed, tf.Variable(0, dtype=tf.int64))
            steps[label] = lambda step=step: [step(iterator) for _ in range(FLAGS.iters)][-1]
        seconds = common.time_interleaved(steps, FLAGS.repeats)
        updates = []
        for _ in range(FLAGS.repeats):
            start = time.perf_counter()
            admm.update(admm_model)
            updates.append(time.perf_counter() - start)
        update = sorted(updates)[len(updates) // 2]
        plain, penalised = seconds["plain"] / FLAGS.iters, seconds["admm"] / FLAGS.iters
        weights = sum(int(tf.size(p.variable)) for p in prunable_variables(admm_model))
        print(f"{spec}, batch {batch} of {source}, PGD-10 madry, {weights:,} pruned weights ({FLAGS.sparsity}), "
              f"median of {FLAGS.repeats} x {FLAGS.iters} steps:")
        print(f"  plain step     {1000 * plain:8.2f} ms")
        print(f"  ADMM step      {1000 * penalised:8.2f} ms   ratio to plain {penalised / plain:.3f}")
        print(f"  one Z/U update {1000 * update:8.2f} ms")
        for period in PERIODS:
            print(f"  amortised ADMM iteration, an update every {period}: ratio to plain "
                  f"{(penalised + update / period) / plain:.3f}")


if __name__ == "__main__":
    app.run(main)
