"""Standard AutoAttack on Fashion-MNIST: wall time, accuracy after each stage, passes per stage;
and APGD-CE's throughput beside plain PGD with as many iterations.

    python -m benchmarks.autoattack                         # the issue's setting (both models)
    python -m benchmarks.autoattack --models=dense-300-100 --examples=200
    python -m benchmarks.autoattack --models=lenet:width=16 --onednn=both   # oneDNN on, then off

``--onednn=both`` runs the whole benchmark twice, each in its own process (oneDNN is fixed when
TensorFlow starts): with TensorFlow's defaults, then with ``TF_ENABLE_ONEDNN_OPTS=0``, one after the
other, and prints AutoAttack's wall time under each and their ratio. Each process trains its own
model with the same seed; float summation differs between the two, so the weights, and the
accuracies, may differ slightly.

Each model is trained naturally for one epoch (Adam 1e-3, batch 128, seed 0) on the 60,000
training images, then attacked with standard AutoAttack (L-inf eps=0.1) on the first
``--examples`` test images, batch 500, with tfrobust's evaluate() (sanity checks off, so that the
time is the attack's; the checks are timed on their own after it). Then APGD-CE (100 steps, 1
restart) and PGD (100 steps of eps/4, random start, keep_best) run interleaved on one batch of the same images: images/s of each and their
ratio. Writes ``--output`` (JSON) when given.
"""
from __future__ import annotations

import json
import time

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_list("models", ["dense-300-100", "lenet:width=16"], "Model specs, each trained for one epoch.")
flags.DEFINE_integer("examples", 1000, "Test images attacked (the first ones).", lower_bound=1)
flags.DEFINE_float("eps", 0.1, "L-inf radius.", lower_bound=0.0)
flags.DEFINE_integer("repeats", 3, "Timed calls of APGD-CE and of PGD (median reported).", lower_bound=1)
flags.DEFINE_integer("throughput_batch", 500, "Images per call in the throughput comparison.", lower_bound=1)
flags.DEFINE_string("output", None, "Write the measurements here as JSON.")
flags.DEFINE_enum("onednn", "default", ["default", "both"],
                  "default: this process as TensorFlow starts; both: one process with oneDNN on, one with it off.")


def train_one_epoch(spec, splits):
    import tf_keras as keras

    from tfrobust import models
    from tfrobust.spec import parse_spec

    name, options = parse_spec(spec, models.MODELS, reserved=("input_shape", "num_classes", "seed"))
    model = models.build_model(name, splits.input_shape, splits.num_classes, seed=0, **options)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    model.fit(splits.train, epochs=1, verbose=0)
    return model, time.perf_counter() - start


def compare_onednn(argv) -> None:
    """Runs this benchmark with oneDNN on and off, one process each, and prints the ratio."""
    import os
    import subprocess
    import sys
    import tempfile

    args = [a for a in argv[1:] if not a.startswith(("--onednn", "--output"))]
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in (("oneDNN on (default)", {}), ("oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"})):
            out = os.path.join(tmp, "report.json")
            print(f"\n===== {name} =====", flush=True)
            flag_args = [f"--{k}={v}" for k, v in (("models", ",".join(FLAGS.models)), ("examples", FLAGS.examples),
                                                    ("eps", FLAGS.eps), ("repeats", FLAGS.repeats),
                                                    ("throughput_batch", FLAGS.throughput_batch))]
            subprocess.run([sys.executable, "-m", "benchmarks.autoattack", *args, *flag_args, f"--output={out}"],
                           env={**os.environ, **env}, check=True)
            with open(out) as f:
                walls[name] = json.load(f)
    on, off = walls.values()
    print(f"\nstandard AutoAttack, L-inf eps={FLAGS.eps}, {FLAGS.examples} images; oneDNN on vs off "
          f"({common.describe_device()}):")
    for model in FLAGS.models:
        a, b = on["models"][model], off["models"][model]
        print(f"  {model}: on {a['wall_seconds']:.1f}s (robust {100 * a['robust_acc']:.1f}%), off "
              f"{b['wall_seconds']:.1f}s (robust {100 * b['robust_acc']:.1f}%): on is {b['wall_seconds'] / a['wall_seconds']:.2f}x "
              "as fast")
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(walls, f, indent=1)


def main(argv):
    if FLAGS.onednn == "both":
        return compare_onednn(argv)
    from tfrobust import data
    from tfrobust.attacks import APGD, PGD, from_spec
    from tfrobust.evaluation import evaluate
    from tfrobust.sanity import check_evaluation

    common.set_seeds(0)
    splits = data.load("fashion_mnist", batch_size=128, seed=0)
    test = data.load("fashion_mnist", batch_size=500, seed=0, max_test=FLAGS.examples).test
    spec = f"autoattack:eps={FLAGS.eps},version=standard"
    print(f"standard AutoAttack, L-inf eps={FLAGS.eps}, on the first {FLAGS.examples} Fashion-MNIST test "
          f"images ({splits.source}), {common.describe_device()}")
    report = {"eps": FLAGS.eps, "examples": FLAGS.examples, "device": common.describe_device(), "models": {}}
    for model_spec in FLAGS.models:
        model, train_seconds = train_one_epoch(model_spec, splits)
        start = time.perf_counter()
        results = evaluate(model, test, [spec], checks=False, seed=0)
        wall = time.perf_counter() - start
        aa = results[from_spec(spec).label]
        print(f"\n{model_spec} (one natural epoch, {train_seconds:.0f}s): clean {100 * results['natural']['accuracy']:.1f}%, "
              f"AutoAttack {100 * aa['accuracy']:.1f}%, wall time {wall:.1f}s")
        print(f"  {'stage':8s} {'accuracy':>9s} {'seconds':>8s} {'forward':>10s} {'backward':>10s}")
        for s in aa["stages"]:
            print(f"  {s['stage']:8s} {100 * s['accuracy']:8.1f}% {s['seconds']:8.1f} {s['forward']:10d} {s['backward']:10d}")

        x, y = next(iter(test.unbatch().batch(FLAGS.throughput_batch)))
        start = time.perf_counter()
        checks = check_evaluation(model, x[:100], y[:100], {from_spec(spec).label: from_spec(spec)}, results,
                                  num_classes=10)
        check_seconds = time.perf_counter() - start
        print(f"  sanity checks on 100 examples: {check_seconds:.1f}s, "
              f"{len(checks['warnings'])} warning(s) {checks['warnings']}")
        apgd = APGD(eps=FLAGS.eps, steps=100)
        pgd = PGD(eps=FLAGS.eps, step_size=FLAGS.eps / 4, steps=100)
        seconds = common.time_interleaved({"apgd": lambda: apgd(model, x, y), "pgd": lambda: pgd(model, x, y)},
                                          FLAGS.repeats)
        n = int(x.shape[0])
        print(f"  APGD-CE-100 {n / seconds['apgd']:8.1f} images/s, PGD-100 {n / seconds['pgd']:8.1f} images/s, "
              f"ratio APGD/PGD {seconds['pgd'] / seconds['apgd']:.2f} (batch {n}, median of {FLAGS.repeats})")
        report["models"][model_spec] = {
            "train_seconds": train_seconds, "clean_acc": results["natural"]["accuracy"],
            "robust_acc": aa["accuracy"], "wall_seconds": wall, "stages": aa["stages"],
            "check_seconds": check_seconds, "check_warnings": checks["warnings"],
            "apgd_images_per_s": n / seconds["apgd"], "pgd_images_per_s": n / seconds["pgd"],
        }
    if FLAGS.output:
        with open(FLAGS.output, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    app.run(main)
