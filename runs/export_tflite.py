"""Exports a (compressed) tfrobust model to TFLite and prints its real size in bytes.

    python -m runs.export_tflite --model_path=results/.../model.keras --output=model.tflite \
        [--weights=int8|float32] [--dataset=fashion_mnist --check_examples=256]

Masked, quantized and factorized layers are folded into plain Dense/Conv2D first
(``tfrobust.compression.export``). Prints the file's bytes, its gzip bytes (what sparsity and
weight sharing save) and the dense float32 size of the weights (4 bytes per parameter) for
reference; with --dataset, also how closely the TFLite model's logits follow the Keras model's on
the first --check_examples test images. A float32 export that disagrees is not written.
"""
from __future__ import annotations

import os

from absl import flags

from . import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "A model saved by tfrobust (.keras).", required=True)
flags.DEFINE_bool("trust_model_file", False, "Also load H5/SavedModel files and Lambda-layer code: they "
                  "can run code when loaded, so only for files you made.")
flags.DEFINE_string("output", None, "Where to write the TFLite model (.tflite).", required=True)
flags.DEFINE_string("weights", "int8", "How weights are stored: int8 (dynamic-range quantization, float "
                    "activations) or float32 (exactly as in the model).")
flags.DEFINE_string("dataset", None, "Dataset spec name[:option=value,...] whose test images check the "
                    "export (fashion_mnist, mnist, cifar10, synthetic); no check without it.")
flags.DEFINE_string("data_dir", None, "Directory with the dataset's original files (optional).")
common.define_integer("check_examples", 256, "Test images the check runs on (the first ones).", "size", lower_bound=1)


def main(argv):
    from tfrobust.compression.export import WEIGHTS, check_weights, export
    from tfrobust.errors import ConfigError
    from tfrobust.saving import load_model

    try:
        weights = check_weights(FLAGS.weights)
    except ConfigError:
        raise ConfigError(f"--weights={FLAGS.weights!r} is not allowed; allowed: {', '.join(WEIGHTS)}") from None
    if not FLAGS.output.endswith(".tflite") or os.path.isdir(FLAGS.output):
        raise ConfigError(f"--output={FLAGS.output!r} is not allowed; allowed: a file path ending in .tflite")
    common.check_output_dir("output", os.path.dirname(os.path.abspath(FLAGS.output)))
    model = load_model(FLAGS.model_path, trust=FLAGS.trust_model_file)
    x = None
    if FLAGS.dataset:
        splits = common.load_data(FLAGS.dataset, batch_size=FLAGS.check_examples, max_test=FLAGS.check_examples,
                                  data_dir=FLAGS.data_dir)
        if tuple(model.input_shape[1:]) != tuple(splits.input_shape):
            raise ConfigError(f"--model_path takes inputs of shape {tuple(model.input_shape[1:])} but --dataset="
                              f"{FLAGS.dataset} has {tuple(splits.input_shape)}")
        x, _ = next(iter(splits.test))
    record = export(model, FLAGS.output, weights=weights, check_inputs=x)
    print(f"{weights} TFLite model: {record['bytes']} bytes, {record['gzip_bytes']} gzipped "
          f"(dense float32 weights: {record['dense_float32_bytes']} bytes)")
    if record["examples"] is not None:
        verdict = "within" if record["within_tolerance"] else "BEYOND"
        print(f"on {record['examples']} test images of {FLAGS.dataset}: argmax agreement "
              f"{record['agreement']:.4f}, max |logit difference| {record['max_abs_diff']:.3g} "
              f"({verdict} the tolerance {record['tolerance']:.3g})")
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    common.run(main)
