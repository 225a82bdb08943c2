"""Threading and graph options on this machine: the robust-evaluation and adversarial-training
loops under each setting, as ratios to TensorFlow's defaults, all in one run (issue 16, item 4).

    python -m benchmarks.cpu_options                  # every setting, 3 timed calls each
    python -m benchmarks.cpu_options --repeats=5 --settings=default,onednn_off

Settings (each in its own process: threads and oneDNN are fixed when TensorFlow starts):
``default`` (every core for intra- and inter-op work, oneDNN on where TensorFlow enables it),
``onednn_off`` (``TF_ENABLE_ONEDNN_OPTS=0``), ``intra1_inter1``, ``intra2_inter1``,
``intra1_inter2`` (``tf.config.threading``), ``xla_auto`` (``tf.config.optimizer.set_jit(True)``:
XLA auto-clustering of every compiled function). Each process times, median of --repeats calls:
tfrobust's PGD-40 (eps 0.3, step 0.01) on lenet width 16 at batch 256 (robust evaluation), and
20 steps of PGD-10 adversarial training (the ``mix`` objective, Adam) on dense-300-100 at batch
60 and lenet width 16 at batch 50. The processes run one after the other, not interleaved: a
ratio within a few per cent of 1 is noise.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from absl import app, flags

FLAGS = flags.FLAGS
SETTINGS = {
    "default": {},
    "onednn_off": {"env": {"TF_ENABLE_ONEDNN_OPTS": "0"}},
    "intra1_inter1": {"intra": 1, "inter": 1},
    "intra2_inter1": {"intra": 2, "inter": 1},
    "intra1_inter2": {"intra": 1, "inter": 2},
    "xla_auto": {"jit": True},
}
flags.DEFINE_list("settings", list(SETTINGS), f"Settings to time, of: {', '.join(SETTINGS)}.")
flags.DEFINE_integer("repeats", 3, "Timed calls of each loop (median reported).", lower_bound=1)
flags.DEFINE_string("child", "", "Internal: time one setting and print its JSON record.")


def _time_setting(name: str) -> dict:
    setting = SETTINGS[name]
    import tensorflow as tf

    if "intra" in setting:
        tf.config.threading.set_intra_op_parallelism_threads(setting["intra"])
        tf.config.threading.set_inter_op_parallelism_threads(setting["inter"])
    if setting.get("jit"):
        tf.config.optimizer.set_jit(True)
    from benchmarks import common
    from tfrobust import attacks, models
    from tfrobust.build import check
    from tfrobust.training.config import TrainConfig
    from tfrobust.training.loop import make_train_step
    from tfrobust.training.optim import make_optimizer

    common.set_seeds(0)
    record = {}
    x, y, _ = common.image_batch(256)
    model = models.build_model("lenet", x.shape[1:], 10, width=16)
    pgd = attacks.PGD(eps=0.3, step_size=0.01, steps=40)
    seconds = common.time_interleaved({"pgd": lambda: pgd(model, x, y)}, FLAGS.repeats)["pgd"]
    record["eval: PGD-40, lenet 16, batch 256"] = 256 / seconds
    for spec, batch in (("dense-300-100", 60), ("lenet:width=16", 50)):
        xb, yb, _ = common.image_batch(batch)
        config = TrainConfig(model=spec, batch_size=batch, objective="mix", attack="pgd:eps=0.3,step_size=0.05,steps=10")
        parts = check(config)
        net = models.build_model(parts.model_name, xb.shape[1:], 10, **parts.model_options)
        step = make_train_step(net, make_optimizer(config), parts.objective, parts.regularizers,
                               tf.distribute.get_strategy(), batch, config.seed, tf.Variable(0, dtype=tf.int64))
        iterator = iter(tf.data.Dataset.from_tensors((xb, yb)).repeat())
        seconds = common.time_interleaved({"train": lambda: [step(iterator) for _ in range(20)][-1]},
                                          FLAGS.repeats)["train"]
        record[f"train: PGD-10, {spec}, batch {batch}"] = 20 * batch / seconds
    return record


def main(argv):
    if FLAGS.child:
        print("RECORD " + json.dumps(_time_setting(FLAGS.child)))
        return
    unknown = [s for s in FLAGS.settings if s not in SETTINGS]
    if unknown:
        sys.exit(f"unknown setting {unknown[0]!r}; known: {', '.join(SETTINGS)}")
    records = {}
    for name in FLAGS.settings:
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **SETTINGS[name].get("env", {}))
        proc = subprocess.run([sys.executable, "-m", "benchmarks.cpu_options", f"--child={name}",
                               f"--repeats={FLAGS.repeats}"], capture_output=True, text=True, env=env)
        line = [l for l in proc.stdout.splitlines() if l.startswith("RECORD ")]
        if proc.returncode or not line:
            sys.exit(f"setting {name} failed:\n{proc.stderr[-2000:]}")
        records[name] = json.loads(line[-1][len("RECORD "):])
        print(f"{name}: " + ", ".join(f"{k} {v:.1f} images/s" for k, v in records[name].items()), flush=True)
    base = records.get("default") or next(iter(records.values()))
    loops = list(base)
    print(f"\nimages/s, and the ratio to {'default' if 'default' in records else FLAGS.settings[0]} "
          f"({os.cpu_count()} cores):")
    print("| setting | " + " | ".join(loops) + " |")
    print("|---|" + "---|" * len(loops))
    for name, record in records.items():
        print(f"| {name} | " + " | ".join(f"{record[k]:.1f} ({record[k] / base[k]:.2f}x)" for k in loops) + " |")


if __name__ == "__main__":
    app.run(main)
