"""TensorBoard's HParams dashboard: each run's settings and results, so that runs (lottery rounds,
ADMM and ATMC stages, tuner trials, training runs of any command) can be compared in one table.

A run's summary is the HParams plugin's session start (its settings: the config's fields) plus
its metrics, written as scalars beside it. No experiment summary is written: the dashboard then
takes as hyperparameters the union of every session's settings and as metrics every scalar tag,
so runs of different commands under one ``--logdir`` share one table.
"""
from __future__ import annotations

from typing import Dict, Optional, Union

import tensorflow as tf

Value = Union[bool, int, float, str]  # what the dashboard shows


def _plain(value) -> Value:
    if isinstance(value, (bool, int, float, str)):
        return value
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return " ".join(str(_plain(v)) for v in value)
    return str(value)


def flat_values(values: Dict, prefix: str = "") -> Dict[str, Value]:
    """A config's dict as dashboard values: nested dicts as ``prefix/key``, lists joined by spaces
    (specs hold commas), ``None`` as the empty string."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(flat_values(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = _plain(value)
    return out


def write_summary(writer, hparams: Optional[Dict], metrics: Dict[str, float], step: int = 0,
                  trial_id: Optional[str] = None) -> None:
    """Writes ``hparams`` (unless None) as the session's settings and ``metrics`` as scalars at
    ``step``, through ``writer``. Sessions with the same ``trial_id`` (default: a hash of the
    settings) are one row."""
    from tensorboard.plugins.hparams import api as hp_api

    with writer.as_default():
        if hparams is not None:
            hp_api.hparams(flat_values(hparams), trial_id=trial_id)
        for name, value in metrics.items():
            tf.summary.scalar(name, float(value), step=step)
    writer.flush()


def write_trial(logdir: str, trial_id: str, hparams: Dict, metrics: Dict) -> None:
    """A tuner trial's summary in ``logdir``: the numeric ``metrics`` as scalars at step 0; strings
    among ``metrics`` join the hparams."""
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    strings = {k: v for k, v in metrics.items() if isinstance(v, str)}
    writer = tf.summary.create_file_writer(logdir)
    write_summary(writer, {**hparams, **strings}, numbers, trial_id=str(trial_id))
    writer.close()


def study_values(config, prefix: str, exclude=()) -> Dict[str, Value]:
    """The fields of a study's config (a lottery's, an ADMM or ATMC pipeline's) as ``prefix/field``,
    less its nested configs (each run's own config holds those) and the ``exclude``d fields (those
    a stage shared by several pipelines does not depend on)."""
    return {f"{prefix}/{key}": _plain(value) for key, value in config.to_dict().items()
            if not isinstance(value, dict) and key not in exclude}


def read_summary(logdir: str) -> Dict[str, Dict]:
    """What the dashboard reads from one run's ``logdir``, through TensorBoard's event reader:
    ``{"hparams": {name: value}, "group": trial id, "scalars": {tag: last value}}``."""
    import numpy as np
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata, plugin_data_pb2

    events = event_accumulator.EventAccumulator(logdir, size_guidance={"tensors": 0})
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME).get(metadata.SESSION_START_INFO_TAG)
    if content is None:
        raise ValueError(f"{logdir} holds no HParams summary")
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    hparams = {name: getattr(value, value.WhichOneof("kind")) for name, value in info.hparams.items()}
    scalars = {tag: float(np.asarray(tf.make_ndarray(events.Tensors(tag)[-1].tensor_proto)))
               for tag in events.Tags()["tensors"] if events.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"}
    return {"hparams": hparams, "group": info.group_name, "scalars": scalars}
