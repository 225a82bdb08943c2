"""Time and peak memory of one GTN outer step (meta-gradient through the whole unrolled inner
loop, plus the Adam update) with and without gradient checkpointing, as ratios taken in one run.

    python -m benchmarks.gtn_checkpointing                       # the quick flagfile's GTN
    python -m benchmarks.gtn_checkpointing --generator_hidden=1024 --generator_channels=128 \
        --learner=conv:width=32,layers=2                         # the paper's sizes

With checkpointing, the generator is also recomputed in the backward pass, ``--generator_chunk``
inner steps' batches at a time (``--generator_chunk=0``: only the learner's steps are recomputed).

Each setting runs in its own process (a peak is a process's high-water mark): it builds the GTN on
Fashion-MNIST (synthetic 28x28 images if Fashion-MNIST is not installed), takes one warm-up outer
step (tracing), then --repeats timed steps (median reported). Peak memory: on a GPU, TensorFlow's
peak allocation during the timed steps; on a CPU, the growth of the process's peak resident set
over its size before the first step (ru_maxrss), which also counts the generator's activations for
all inner steps at once. Checkpointing keeps the learner's state after each step and recomputes
the step in the backward pass; without it one tape keeps every step's intermediate tensors.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

from absl import app, flags

from benchmarks import common  # noqa: F401  (quiet TensorFlow logs)

FLAGS = flags.FLAGS
flags.DEFINE_string("learner", "conv:width=16,layers=2", "Learner spec.")
flags.DEFINE_integer("inner_steps", 64, "Inner steps.", lower_bound=1)
flags.DEFINE_integer("inner_batch", 128, "Inner batch.", lower_bound=1)
flags.DEFINE_integer("generator_hidden", 256, "Generator's first dense width.", lower_bound=1)
flags.DEFINE_integer("generator_channels", 32, "Generator's first feature map channels.", lower_bound=1)
flags.DEFINE_integer("generator_chunk", 8, "With checkpointing, recompute the generator this many inner steps at a "
                                          "time (0: keep all its activations).", lower_bound=0)
flags.DEFINE_integer("repeats", 3, "Timed outer steps per setting (median reported).", lower_bound=1)
flags.DEFINE_string("child", "", "Internal: run one setting (true/false) and print its JSON record.")


def _splits():
    from tfrobust import data
    from tfrobust.errors import DataError

    try:
        return data.load("fashion_mnist", batch_size=1000, valid_size=1000, seed=0), "fashion_mnist"
    except DataError:
        return data.load("synthetic", batch_size=1000, valid_size=200, train_size=2000, test_size=200,
                         image_shape=(28, 28, 1)), "synthetic"


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes


def run_child(checkpointing: bool) -> dict:
    import statistics

    import tensorflow as tf

    from tfrobust.gtn.config import GTNConfig
    from tfrobust.gtn.meta import MetaTraining

    splits, source = _splits()
    config = GTNConfig(dataset=source, learner=FLAGS.learner, inner_steps=FLAGS.inner_steps,
                       few_steps=min(10, FLAGS.inner_steps), inner_batch=FLAGS.inner_batch,
                       generator_hidden=FLAGS.generator_hidden, generator_channels=FLAGS.generator_channels,
                       checkpointing=checkpointing, generator_chunk=FLAGS.generator_chunk if checkpointing else 0)
    import tempfile

    training = MetaTraining(config, splits, tempfile.mkdtemp(prefix="tfrobust-bench-"))
    gpu = bool(tf.config.list_physical_devices("GPU"))
    before = _peak_rss_bytes()
    training.outer_step(0)  # traces every compiled step
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    seconds = []
    for k in range(1, FLAGS.repeats + 1):
        start = time.perf_counter()
        training.outer_step(k)
        seconds.append(time.perf_counter() - start)
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] if gpu else _peak_rss_bytes() - before
    return {"checkpointing": checkpointing, "seconds": statistics.median(seconds), "peak_bytes": int(peak),
            "device": "GPU" if gpu else "CPU", "data": source}


def main(argv):
    if FLAGS.child:
        print("RECORD " + json.dumps(run_child(FLAGS.child == "true")))
        return
    records = {}
    for setting in ("false", "true"):
        args = [a for a in sys.argv[1:] if not a.startswith("--child")] + [f"--child={setting}"]
        proc = subprocess.run([sys.executable, "-m", "benchmarks.gtn_checkpointing", *args], capture_output=True,
                              text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        line = [l for l in proc.stdout.splitlines() if l.startswith("RECORD ")]
        if proc.returncode or not line:
            sys.exit(f"the checkpointing={setting} run failed:\n{proc.stderr[-2000:]}")
        records[setting] = json.loads(line[-1][len("RECORD "):])
    off, on = records["false"], records["true"]
    print(f"GTN outer step: {FLAGS.inner_steps} inner steps of {FLAGS.inner_batch}, learner {FLAGS.learner}, "
          f"generator {FLAGS.generator_hidden}/{FLAGS.generator_channels} (recomputed {FLAGS.generator_chunk} steps at a "
          f"time with checkpointing), {off['device']}, {off['data']} data")
    print("| checkpointing | seconds per outer step | peak memory (MiB) |")
    print("|---|---|---|")
    for r in (off, on):
        print(f"| {'on' if r['checkpointing'] else 'off'} | {r['seconds']:.2f} | {r['peak_bytes'] / 2 ** 20:.0f} |")
    print(f"ratios, checkpointing on / off: time {on['seconds'] / off['seconds']:.2f}x, "
          f"peak memory {on['peak_bytes'] / max(off['peak_bytes'], 1):.2f}x")


if __name__ == "__main__":
    app.run(main)
