"""PGD throughput: tfrobust's PGD against a plain ``tf.function`` PGD written here, same run.

    python -m benchmarks.pgd_throughput                       # the issue's setting
    python -m benchmarks.pgd_throughput --model=dense-300-100 --batch_size=60 --steps=10

Default: PGD-40 (L-inf eps=0.3, step 0.01, random start) on lenet width 16, batch 256. Prints
images/s of each and the ratio tfrobust / reference (> 1 means tfrobust is faster).
"""
from __future__ import annotations

from absl import app, flags

from benchmarks import common

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "lenet:width=16", "Model spec.")
flags.DEFINE_integer("batch_size", 256, "Images per attack call.", lower_bound=1)
flags.DEFINE_integer("steps", 40, "PGD iterations.", lower_bound=1)
flags.DEFINE_float("eps", 0.3, "L-inf radius.", lower_bound=0.0)
flags.DEFINE_float("step_size", 0.01, "PGD step size.", lower_bound=0.0)
flags.DEFINE_integer("repeats", 5, "Timed calls of each implementation (median reported).", lower_bound=1)


def main(argv):
    from tfrobust import attacks, models
    from tfrobust.spec import parse_spec

    common.set_seeds(0)
    name, options = parse_spec(FLAGS.model, models.MODELS, reserved=("input_shape", "num_classes", "seed"))
    x, y, source = common.image_batch(FLAGS.batch_size)
    model = models.build_model(name, x.shape[1:], 10, **options)
    settings = dict(eps=FLAGS.eps, step_size=FLAGS.step_size, steps=FLAGS.steps)
    ours = attacks.PGD(**settings)
    ours_last = attacks.PGD(keep_best=False, **settings)
    ref = common.reference_pgd(model, FLAGS.eps, FLAGS.step_size, FLAGS.steps)
    print(f"PGD-{FLAGS.steps} eps={FLAGS.eps} step={FLAGS.step_size} on {FLAGS.model}, batch "
          f"{FLAGS.batch_size} of {source}, {common.describe_device()}, median of {FLAGS.repeats}")
    seconds = common.time_interleaved({
        "reference (plain tf.function)": lambda: ref(x, y),
        "tfrobust PGD (keep_best=True, default)": lambda: ours(model, x, y),
        "tfrobust PGD (keep_best=False)": lambda: ours_last(model, x, y),
    }, FLAGS.repeats)
    base = seconds["reference (plain tf.function)"]
    for label, s in seconds.items():
        print(f"  {label:42s} {FLAGS.batch_size / s:9.1f} images/s   ratio to reference {base / s:5.2f}")


if __name__ == "__main__":
    app.run(main)
