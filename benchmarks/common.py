"""Shared benchmark helpers: real data when installed, interleaved timing, ratio reporting."""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable, Dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def image_batch(batch_size: int, shape=(28, 28, 1), seed: int = 0):
    """A batch of Fashion-MNIST test images if the data is installed, else synthetic images."""
    from tfrobust import data
    from tfrobust.errors import DataError

    try:
        splits = data.load("fashion_mnist", batch_size=batch_size, max_test=batch_size)
        if tuple(splits.input_shape) == tuple(shape):
            x, y = next(iter(splits.test))
            return x, y, "fashion_mnist"
    except DataError:
        pass
    splits = data.load("synthetic", batch_size=batch_size, image_shape=tuple(shape),
                       test_size=batch_size, data_seed=seed)
    x, y = next(iter(splits.test))
    return x, y, "synthetic"


def time_interleaved(fns: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Dict[str, float]:
    """Median seconds per call of each function, calls interleaved so drift hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            _block(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            _block(fn())
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _block(result):
    """Waits for a result to be computed (tensors are asynchronous on accelerators)."""
    for t in tf.nest.flatten(result):
        if hasattr(t, "numpy"):
            t.numpy()


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The machine's large-matmul throughput (float32), in GFLOP/s."""
    a = tf.random.uniform((n, n))
    b = tf.random.uniform((n, n))
    mm = tf.function(lambda: tf.matmul(a, b))
    seconds = time_interleaved({"mm": mm}, repeats)["mm"]
    return 2 * n ** 3 / seconds / 1e9


CPU_FLAGS = ("amx_bf16", "amx_int8", "amx_tile", "avx512f", "avx512_bf16", "avx512_vnni", "avx2")


def cpu_model_and_flags():
    """``(model name, the CPU_FLAGS it has)`` from /proc/cpuinfo; ``("unknown", [])`` elsewhere."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return "unknown", []
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    have = set(fields.get("flags", "").split())
    return fields.get("model name", "unknown"), [flag for flag in CPU_FLAGS if flag in have]


def describe_device() -> str:
    """The accelerator, or the CPU's model, cores and AMX/AVX-512 flags (the machines differ)."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s)"
    model, have = cpu_model_and_flags()
    return f"CPU {model}, {os.cpu_count()} cores, flags: {' '.join(have) or 'none of ' + ' '.join(CPU_FLAGS)}"


def set_seeds(seed: int = 0) -> None:
    np.random.seed(seed)
    tf.random.set_seed(seed)


def reference_pgd(model, eps, step_size, steps):
    """The plain way: one tf.function, random start, sign steps, projection, last iterate."""
    @tf.function
    def pgd(x, y):
        x_adv = tf.clip_by_value(x + tf.random.uniform(tf.shape(x), -eps, eps), 0.0, 1.0)
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x_adv)
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(x_adv, training=False)))
            grad = tape.gradient(loss, x_adv)
            x_adv = tf.clip_by_value(x_adv + step_size * tf.sign(grad), x - eps, x + eps)
            x_adv = tf.clip_by_value(x_adv, 0.0, 1.0)
        return x_adv

    return pgd
