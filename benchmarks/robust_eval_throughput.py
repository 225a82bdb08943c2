"""Robust-accuracy evaluation: tfrobust's ``evaluate`` against a plain ``tf.function`` PGD loop.

    python -m benchmarks.robust_eval_throughput                 # the issue's 8 cases
    python -m benchmarks.robust_eval_throughput --model=dense-300-100 --batch_size=1000

PGD-40 (L-inf eps 0.3, step 0.01, random start: the lottery's evaluation attack) over
``--examples`` Fashion-MNIST test images, on each model with natural and with adversarially
trained weights (trained here first: ``--train_iters`` steps of Adam, PGD-10 50/50 for the
adversarial ones), at each batch size. Timed, each once after a warm-up on one batch:

- the reference: the plain PGD of ``benchmarks.common.reference_pgd`` over every batch, then the
  accuracy on its last iterates (what most research code does);
- tfrobust, every example (``compact=False``): PGD keeping its best iterate, per-example seeds;
- tfrobust, compacted (the default): the same attack on only the examples still classified
  correctly, each stopping at its first adversarial point.

Prints seconds, the ratio to the reference (> 1: faster) and the three robust accuracies: the two
tfrobust ones must be equal; the reference differs by its random starts and keeps its last iterate.
"""
from __future__ import annotations

import time

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_list("model", ["lenet:width=16", "dense-300-100"], "Model specs.")
flags.DEFINE_list("batch_size", ["256", "1000"], "Evaluation batch sizes.")
flags.DEFINE_list("weights", ["natural", "adversarial"], "Which trained weights: natural, adversarial.")
flags.DEFINE_integer("examples", 1000, "Test images evaluated.", lower_bound=1)
flags.DEFINE_integer("train_iters", 300, "Training steps for each model's weights.", lower_bound=1)


def trained(spec: str, weights: str):
    """``spec`` trained for ``--train_iters`` steps on Fashion-MNIST, naturally or with PGD-10 50/50."""
    from tfrobust.build import build
    from tfrobust.training.config import TrainConfig
    from tfrobust.training.loop import make_train_step
    from tfrobust.training.optim import make_optimizer

    import tensorflow as tf

    config = TrainConfig(model=spec, batch_size=50, valid_size=0, learning_rate=1e-3,
                         objective="natural" if weights == "natural" else "mix",
                         attack="pgd:eps=0.3,step_size=0.05,steps=10")
    setup = build(config)
    model = setup.new_model()
    step = make_train_step(model, make_optimizer(config), setup.objective, setup.regularizers, setup.strategy,
                           config.batch_size, config.seed, tf.Variable(0, dtype=tf.int64))
    iterator = iter(setup.splits.train_stream(config.seed))
    for _ in range(FLAGS.train_iters):
        step(iterator)
    return model, setup.splits


def reference_accuracy(model, pgd, x, y, batch):
    import tensorflow as tf

    correct = 0
    for i in range(0, len(x), batch):
        x_adv = pgd(x[i:i + batch], y[i:i + batch])
        correct += int(tf.reduce_sum(tf.cast(tf.equal(tf.argmax(model(x_adv, training=False), -1), y[i:i + batch]),
                                             tf.int32)))
    return correct / len(x)


def main(argv):
    import tensorflow as tf

    from tfrobust import attacks
    from tfrobust.evaluation import evaluate

    common.set_seeds(0)
    attack = attacks.from_spec("pgd:eps=0.3,step_size=0.01,steps=40")
    print(f"PGD-40 robust-accuracy evaluation on {FLAGS.examples} Fashion-MNIST test images, "
          f"{common.describe_device()}; models trained {FLAGS.train_iters} steps here")
    print("| model | weights | batch | reference s | every example s (ratio) | compacted s (ratio) | "
          "accuracy: reference / every / compacted |")
    print("|---|---|---|---|---|---|---|")
    for spec in FLAGS.model:
        for weights in FLAGS.weights:
            model, splits = trained(spec, weights)
            test = splits.test.unbatch().take(FLAGS.examples).batch(FLAGS.examples)
            x, y = next(iter(test))
            y = tf.cast(y, tf.int64)
            for batch in map(int, FLAGS.batch_size):
                data = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
                ref = common.reference_pgd(model, 0.3, 0.01, 40)
                ref(x[:batch], y[:batch])  # warm-up: tracing
                for compact in (False, True):
                    evaluate(model, data.take(1), {"pgd": attack}, seed=0, checks=False, compact=compact)
                seconds, accuracy = {}, {}
                start = time.perf_counter()
                accuracy["reference"] = reference_accuracy(model, ref, x, y, batch)
                seconds["reference"] = time.perf_counter() - start
                for label, compact in (("every", False), ("compacted", True)):
                    start = time.perf_counter()
                    result = evaluate(model, data, {"pgd": attack}, seed=0, checks=False, compact=compact)
                    seconds[label] = time.perf_counter() - start
                    accuracy[label] = result["pgd"]["accuracy"]
                base = seconds["reference"]
                print(f"| {spec} | {weights} | {batch} | {base:.1f} | {seconds['every']:.1f} "
                      f"({base / seconds['every']:.2f}) | {seconds['compacted']:.1f} ({base / seconds['compacted']:.2f}) "
                      f"| {accuracy['reference']:.3f} / {accuracy['every']:.3f} / {accuracy['compacted']:.3f} |",
                      flush=True)


if __name__ == "__main__":
    app.run(main)
