"""What an ATMC iteration costs over a plain adversarial-training iteration, as ratios taken in one run.

    python -m benchmarks.atmc_overhead          # caffe-lenet @ 64, 0.5 clean + 0.5 PGD-16 training

A plain iteration is the compiled training step of the dense masked model. An ATMC iteration (its
8-bit stage) is the step of the factorized model (W = B(A + I) + C: the kernel is rebuilt from its
factors at every forward pass) with the ADMM penalty in the loss, then the global l0 projection
(top-k over B, A and C, compiled), plus every ``quant_every`` iterations one Z/U update (k-means
of every variable, in NumPy). The benchmark times the steps interleaved (median of --repeats
calls of --iters steps) and one update on its own, and prints the amortised ratio at the
reference's period of 5 batches. The 32-bit stage is the same without the penalty and the update.
"""
from __future__ import annotations

import time

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "caffe-lenet", "Model spec.")
flags.DEFINE_integer("batch", 64, "Batch size.", lower_bound=1)
flags.DEFINE_integer("iters", 10, "Training steps per timed call.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed calls of each loop (median reported).", lower_bound=1)
flags.DEFINE_float("keep", 0.01, "The l0 budget: the kept fraction of the dense weights.")
flags.DEFINE_integer("bits", 8, "Bits of the quantization constraint.")
flags.DEFINE_integer("quant_every", 5, "Iterations between Z/U updates (amortised).")


class _Trainer:
    def __init__(self, model, strategy, config):
        self.model, self.setup = model, type("Setup", (), {"strategy": strategy, "config": config})()


def main(argv):
    import tensorflow as tf

    from tfrobust import models
    from tfrobust.build import check
    from tfrobust.compression.l0 import L0Projection
    from tfrobust.compression.quant_admm import QuantizationAdmm
    from tfrobust.layers import to_factorized
    from tfrobust.layers.compressible import prunable_variables
    from tfrobust.training.config import TrainConfig
    from tfrobust.training.loop import make_train_step
    from tfrobust.training.optim import make_optimizer

    common.set_seeds(0)
    print(common.describe_device())
    x, y, source = common.image_batch(FLAGS.batch)
    eps = 0.1
    config = TrainConfig(model=FLAGS.model, batch_size=FLAGS.batch, objective="mix", train_iters=10 ** 6,
                         attack=f"pgd:eps={eps},step_size={1.25 * eps / 16},steps=16,random_start=false")
    parts = check(config)
    strategy = tf.distribute.get_strategy()
    iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    dense = models.build_model(parts.model_name, x.shape[1:], 10, **parts.model_options)
    dense_weights = sum(int(tf.size(p.variable)) for p in prunable_variables(dense))
    factorized = to_factorized(dense)
    trainer = _Trainer(factorized, strategy, config)
    l0 = L0Projection(FLAGS.keep, dense_weights=dense_weights)
    l0.before_train(trainer, 1)
    admm = QuantizationAdmm(bits=FLAGS.bits, rho=0.1, growth=1.0, every=FLAGS.quant_every)
    admm.state(trainer)
    admm.before_train(trainer, 0)

    def step_of(model, regularizers):
        return make_train_step(model, make_optimizer(config), parts.objective, tuple(regularizers), strategy,
                               config.batch_size, config.seed, tf.Variable(0, dtype=tf.int64))

    plain = step_of(dense, parts.regularizers)
    atmc32 = step_of(factorized, parts.regularizers)
    atmcb = step_of(factorized, tuple(parts.regularizers) + (admm.penalty,))

    def loop(step, project):
        for _ in range(FLAGS.iters):
            step(iterator)
            if project:
                l0._project()

    seconds = common.time_interleaved({"plain": lambda: loop(plain, False), "atmc32": lambda: loop(atmc32, True),
                                       "atmcb": lambda: loop(atmcb, True)}, FLAGS.repeats)
    updates = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        admm.update(factorized)
        updates.append(time.perf_counter() - start)
    update = sorted(updates)[len(updates) // 2]
    per = {k: v / FLAGS.iters for k, v in seconds.items()}
    entries = sum(int(tf.size(p.variable)) for p in prunable_variables(factorized))
    print(f"{FLAGS.model}, batch {FLAGS.batch} of {source}, 0.5 clean + 0.5 PGD-16 training; {dense_weights:,} dense "
          f"weights, {entries:,} entries in B, A and C; l0 budget {l0.k:,}; median of {FLAGS.repeats} x {FLAGS.iters} steps:")
    print(f"  plain adversarial step            {1000 * per['plain']:8.2f} ms")
    print(f"  ATMC 32-bit step (factorized + l0) {1000 * per['atmc32']:8.2f} ms   ratio to plain {per['atmc32'] / per['plain']:.3f}")
    print(f"  ATMC {FLAGS.bits}-bit step (+ ADMM penalty)  {1000 * per['atmcb']:8.2f} ms   ratio to plain {per['atmcb'] / per['plain']:.3f}")
    print(f"  one Z/U update (k-means)          {1000 * update:8.2f} ms")
    amortised = per["atmcb"] + update / FLAGS.quant_every
    print(f"  amortised ATMC {FLAGS.bits}-bit iteration, an update every {FLAGS.quant_every}: ratio to plain "
          f"{amortised / per['plain']:.3f}")


if __name__ == "__main__":
    app.run(main)
