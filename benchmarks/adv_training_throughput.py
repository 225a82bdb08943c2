"""Adversarial-training throughput: tfrobust's training step against a plain ``tf.function`` step.

    python -m benchmarks.adv_training_throughput          # dense-300-100 @ 60 and lenet w16 @ 50

Each case trains with PGD-10 (L-inf eps 0.3, step 0.05, random start), the 50/50 clean/adversarial
loss and Adam, for ``--iters`` steps per timed call, interleaving tfrobust and the reference.
Also prints the machine's large-matmul GFLOP/s from the same run, and each loop's share of it.
"""
from __future__ import annotations

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("case", ["dense-300-100@60", "lenet:width=16@50"], "model spec@batch size")
flags.DEFINE_integer("iters", 20, "Training steps per timed call.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed calls of each loop (median reported).", lower_bound=1)


def reference_train_step(model, optimizer, eps=0.3, step_size=0.05, steps=10):
    """The plain way: the plain PGD (random start, last iterate), then a 50/50 loss, one tf.function."""
    import tensorflow as tf

    def ce(logits, y):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(y, tf.int32), logits)

    pgd = common.reference_pgd(model, eps, step_size, steps)

    @tf.function
    def step(x, y):
        x_adv = tf.stop_gradient(pgd(x, y))
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.reduce_mean(ce(model(x, training=True), y)) + \
                0.5 * tf.reduce_mean(ce(model(x_adv, training=True), y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def main(argv):
    import tensorflow as tf
    import tf_keras as keras

    from tfrobust import models

    from tfrobust.build import check
    from tfrobust.training.config import TrainConfig
    from tfrobust.training.loop import make_train_step
    from tfrobust.training.optim import make_optimizer

    common.set_seeds(0)
    gflops = common.matmul_gflops()
    print(f"{common.describe_device()}: large float32 matmul {gflops:.1f} GFLOP/s")
    for case in FLAGS.case:
        spec, _, batch = case.rpartition("@")
        batch = int(batch)
        x, y, source = common.image_batch(batch)
        config = TrainConfig(model=spec, batch_size=batch, objective="mix",
                             attack="pgd:eps=0.3,step_size=0.05,steps=10")
        parts = check(config)  # what runs.train would train with: objective, attack, regularisers
        strategy = tf.distribute.get_strategy()

        ours_model = models.build_model(parts.model_name, x.shape[1:], 10, **parts.model_options)
        ours_opt = make_optimizer(config)
        iteration = tf.Variable(0, dtype=tf.int64)
        ours_step = make_train_step(ours_model, ours_opt, parts.objective, parts.regularizers, strategy,
                                    config.batch_size, config.seed, iteration)
        iterator = iter(tf.data.Dataset.from_tensors((x, y)).repeat())

        ref_model = models.build_model(parts.model_name, x.shape[1:], 10, **parts.model_options)
        ref_step = reference_train_step(ref_model, keras.optimizers.Adam(config.learning_rate))

        def run_ours():
            return [ours_step(iterator) for _ in range(FLAGS.iters)][-1]

        def run_ref():
            return [ref_step(x, y) for _ in range(FLAGS.iters)][-1]

        seconds = common.time_interleaved({"reference": run_ref, "tfrobust": run_ours}, FLAGS.repeats)
        flops = _train_flops(ours_model, x)
        print(f"PGD-10 adversarial training, {spec}, batch {batch} of {source}, {FLAGS.iters} steps x "
              f"median of {FLAGS.repeats}:")
        for label in ("reference", "tfrobust"):
            rate = FLAGS.iters * batch / seconds[label]
            share = 100 * rate * flops / 1e9 / gflops
            print(f"  {label:10s} {rate:8.1f} images/s  ({share:4.1f}% of matmul peak)  "
                  f"ratio to reference {seconds['reference'] / seconds[label]:.2f}")


def _train_flops(model, x):
    """FLOPs per image of one PGD-10 training step, counted from the kernels: 2 per multiply-add.

    A forward pass is 1x; its backward pass to the input alone another 1x (one product per layer),
    to the input and the weights 2x. PGD-10 does 10 forward passes each with a backward pass to the
    input (2x); the update does a forward and a full backward pass (3x) on the clean and on the
    adversarial batch."""
    import numpy as np

    from tfrobust.layers import masked_layers

    macs = 0
    for layer in masked_layers(model):
        k = layer.kernel.shape
        if len(k) == 2:
            macs += k[0] * k[1]
        else:
            out_hw = np.prod(layer.output.shape[1:3])
            macs += out_hw * np.prod(k)
    forward = 2 * macs
    return forward * (10 * 2 + 2 * 3)


if __name__ == "__main__":
    app.run(main)
