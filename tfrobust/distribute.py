"""Strategy selection: ``default`` (one device), ``mirrored`` (one machine, several devices) and
``multi_worker`` (several machines or processes, configured by the ``TF_CONFIG`` environment
variable, as usual for ``MultiWorkerMirroredStrategy``)."""
from __future__ import annotations

import json
import os
from typing import Sequence

import tensorflow as tf

from tfrobust.errors import ConfigError


STRATEGIES = ("default", "mirrored", "multi_worker")


def make_strategy(name: str, devices: Sequence[str] = ()) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices:
            known = {d.name.replace("/physical_device:", "/") for d in tf.config.list_logical_devices()}
            known |= {d.name for d in tf.config.list_logical_devices()}
            missing = [d for d in devices if _canonical(d) not in {_canonical(k) for k in known}]
            if missing:
                raise ConfigError(f"--devices: no device {', '.join(missing)}; this machine has "
                                  f"{', '.join(sorted(d.name for d in tf.config.list_logical_devices()))}")
        return tf.distribute.MirroredStrategy(devices=list(devices) or None)
    if name == "multi_worker":
        if "TF_CONFIG" in os.environ:
            tf_config()  # fails clearly on a malformed value, before TensorFlow reads it
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                              "(cluster and task) set for each worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"--strategy={name!r} is not allowed; allowed: {', '.join(STRATEGIES)}")


def _canonical(device: str) -> str:
    return device.lower().replace("/job:localhost/replica:0/task:0", "").replace("device:", "").strip("/")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes results (always true outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return True
    task = tf_config().get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    cluster = tf_config().get("cluster", {})
    if "chief" in cluster:
        return kind == "chief"
    return kind == "worker" and index == 0


def tf_config() -> dict:
    """The ``TF_CONFIG`` environment variable, parsed: a JSON object with ``cluster`` and ``task``."""
    try:
        value = json.loads(os.environ["TF_CONFIG"])
    except ValueError as e:
        raise ConfigError(f"the TF_CONFIG environment variable is not JSON ({e}); set it to "
                          '{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}') from None
    if not isinstance(value, dict) or not isinstance(value.get("cluster", {}), dict) \
            or not isinstance(value.get("task", {}), dict):
        raise ConfigError("the TF_CONFIG environment variable must be a JSON object with a 'cluster' object "
                          "and a 'task' object")
    return value
