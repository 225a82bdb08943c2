"""Exports a (pruned) tfrobust model as a plain Keras model: Dense/Conv2D layers, masks folded in.

    python -m runs.export_plain --model_path=results/.../round_04/model.keras --output=plain.keras

The output loads with ``tf_keras.models.load_model`` without tfrobust; it prints the sparsity of
each layer.
"""
from __future__ import annotations

import os

from absl import flags

from . import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model_path", None, "A model saved by tfrobust (.keras).", required=True)
flags.DEFINE_bool("trust_model_file", False, "Also load H5/SavedModel files and Lambda-layer code: they "
                  "can run code when loaded, so only for files you made.")
flags.DEFINE_string("output", None, "Where to write the plain model (.keras).", required=True)


def main(argv):
    from tfrobust.layers.plain import export_plain, sparsity
    from tfrobust.saving import load_model, save_model

    common.check_output_dir("output", os.path.dirname(os.path.abspath(FLAGS.output)))
    plain = export_plain(load_model(FLAGS.model_path, trust=FLAGS.trust_model_file))
    save_model(plain, FLAGS.output)
    for name, s in sparsity(plain).items():
        print(f"{name}: {100 * (1 - s):.2f}% of weights remain")
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    common.run(main)
