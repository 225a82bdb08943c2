"""Early stopping by checkpoint selection (``--early_stopping``), as Stutz et al. select their
``_es`` models: training runs to its end, and the weights with the best robust validation accuracy
seen at an evaluation point are kept aside."""
from __future__ import annotations

import os
from typing import Optional

import tensorflow as tf

from tfrobust.errors import TfrobustError
from tfrobust.saving import save_model
from tfrobust.training.hooks import Hook

BEST_MODEL = "best/model.keras"  # relative to the run directory


class EarlyStopping(Hook):
    """At each evaluation point, after :class:`~tfrobust.training.hooks.Evaluation`: when the
    validation accuracy under ``attack`` (default: the first of the setup's evaluation attacks that
    runs at every point, i.e. is not costly; ``natural`` if there is none) beats every earlier
    point's (strictly: the earliest of equal points is kept), the evaluated model (the average,
    with ``--weight_average``) is written to ``<run>/best/model.keras`` (chief only, atomically).
    The best step and accuracy are saved in the checkpoint; results.json gets
    ``best: {step, valid_accuracy, attack}``."""

    def __init__(self, attack: Optional[str] = None):
        self.attack = attack

    def _new_state(self):
        self.best_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_step")
        self.best_accuracy = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_valid_accuracy")

    def state(self, trainer):
        self._new_state()  # each run starts afresh, then restores the checkpoint's values
        return {"early_stopping_step": self.best_step, "early_stopping_accuracy": self.best_accuracy}

    def before_train(self, trainer, start_step):
        if not hasattr(self, "best_step"):  # a checkpointing hook that asked for no state
            self._new_state()
        if self.attack is None:
            robust = [label for label, attack in trainer.setup.eval_attacks.items() if not attack.costly]
            self.key = robust[0] if robust else "natural"
        else:
            self.key = self.attack

    def after_eval(self, trainer, step, record):
        valid = record.get("valid") or {}
        if self.key not in valid:
            raise TfrobustError(f"--early_stopping selects by the validation accuracy under {self.key!r}, which "
                                f"the evaluation at iteration {step} did not report (it has: "
                                f"{', '.join(valid) or 'no validation split'})")
        accuracy = float(valid[self.key]["accuracy"])
        if accuracy > float(self.best_accuracy.numpy()):
            if trainer.setup.chief:
                save_model(trainer.model, os.path.join(trainer.run_dir.path, BEST_MODEL))
            self.best_step.assign(step)
            self.best_accuracy.assign(accuracy)

    def results(self, trainer):
        return {"best": {"step": int(self.best_step.numpy()), "valid_accuracy": float(self.best_accuracy.numpy()),
                         "attack": self.key}}
