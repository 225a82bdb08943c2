"""TensorBoard's HParams dashboard: one run's settings and results, so that runs can be compared in
one table (Trials: keras-tuner trials, ADMM pipelines)."""
from __future__ import annotations

from typing import Dict

import tensorflow as tf


def _plain(value):
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def write_trial(logdir: str, trial_id: str, hparams: Dict, metrics: Dict) -> None:
    """Writes ``hparams`` (name -> bool, number or string) and the numeric ``metrics`` as scalars at
    step 0 into ``logdir``; strings among ``metrics`` join the hparams."""
    from tensorboard.plugins.hparams import api as hp_api

    values = {k: _plain(v) for k, v in hparams.items()}
    values.update({k: v for k, v in metrics.items() if isinstance(v, str)})
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hp_api.hparams(values, trial_id=str(trial_id))
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                tf.summary.scalar(name, float(value), step=0)
    writer.close()
