"""Trains a registered model naturally on a dataset and saves it as a .keras file.

    python -m runs.train --model=dense-300-100 --dataset=fashion_mnist --train_iters=2000 \
        --output=results/quickstart/model.keras

Models are specs ``name:key=value``, e.g. ``--model=lenet:width=16``. This is plain natural
training with Adam; the strategy-aware training engine with adversarial training, schedules,
experiment directories and resume is a separate piece of work (issue 3).
"""
from __future__ import annotations

import time

from absl import flags

from runs import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "dense-300-100", "Model spec name[:key=value,...]: dense-300-100, lenet, caffe-lenet, resnet18.")
flags.DEFINE_string("dataset", "fashion_mnist", "Dataset spec name[:option=value,...]: fashion_mnist, mnist, cifar10, synthetic (e.g. synthetic:image_shape=10x10x1).")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
flags.DEFINE_integer("train_iters", 2000, "Training iterations (batches).", lower_bound=1)
flags.DEFINE_integer("batch_size", 60, "Training batch size.", lower_bound=1)
flags.DEFINE_float("learning_rate", 1.2e-3, "Adam learning rate.", lower_bound=0.0)
flags.DEFINE_integer("seed", 0, "Seed for weights and data order.")
flags.DEFINE_string("output", None, "Where to save the model (.keras).", required=True)


def main(argv):
    import tensorflow as tf
    import tf_keras as keras

    from tfrobust import models
    from tfrobust.errors import ConfigError, TfrobustError
    from tfrobust.saving import save_model

    if not FLAGS.output.endswith(".keras"):
        raise ConfigError(f"--output={FLAGS.output!r} must end in .keras")
    name, options = common.parse_flag_spec("model", FLAGS.model, models.MODELS,
                                           reserved=("input_shape", "num_classes", "seed"))
    splits = common.load_data(FLAGS.dataset, batch_size=FLAGS.batch_size, seed=FLAGS.seed,
                              data_dir=FLAGS.data_dir)
    model = models.build_model(name, splits.input_shape, splits.num_classes, seed=FLAGS.seed, **options)
    model.compile(
        optimizer=keras.optimizers.Adam(FLAGS.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    common.say(f"training {FLAGS.model} on {FLAGS.dataset} ({splits.source}) for {FLAGS.train_iters} iterations")
    tf.random.set_seed(FLAGS.seed)
    start = time.time()
    history = model.fit(splits.train.repeat(), steps_per_epoch=FLAGS.train_iters, epochs=1,
                        verbose=0 if FLAGS.quiet else 2)
    loss = history.history["loss"][-1]
    if loss != loss:
        raise TfrobustError("training loss became NaN; lower --learning_rate")
    common.say(f"trained in {time.time() - start:.1f}s, final training loss {loss:.4f}")
    save_model(model, FLAGS.output)
    common.say(f"saved {FLAGS.output}")


if __name__ == "__main__":
    common.run(main)
