"""Weight averaging (``--weight_average``), as Stutz et al. train their ``wa`` models.

An exponential moving average of the model's trainable weights starts from the weights before the
first step and, after every step (inside the compiled step), becomes
``tau * average + (1 - tau) * weights``: Stutz's ``keep_average`` with ``keep_average_tau`` (0.9975
per iteration in his models). Everything else of the model (batch-norm statistics, masks) is
shared with the raw model, as in the reference, whose averaged model takes the raw model's
batch-norm statistics.

At each evaluation point :class:`UseAverage` (before the evaluation hooks) puts the average into
the model, keeping the raw weights aside, and :class:`UseRaw` (after them, before the user's hooks
and the checkpoint) puts the raw weights back, bit for bit; training continues on them. The
average lives in non-trainable variables saved in the checkpoint, so a resumed run is exact. At
the end of training the model holds the average (what model.keras saves).
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.training.hooks import Hook


class WeightAverage:
    """The average of ``model``'s trainable weights with decay ``tau``; make it in the strategy's
    scope. ``average`` and ``raw`` are lists of variables in ``model.trainable_variables`` order."""

    def __init__(self, model, tau: float):
        self.tau = float(tau)
        self.weights = list(model.trainable_variables)
        self.state = tf.Module(name="weight_average")  # what the checkpoint saves: the average only
        self.state.average = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"average_{i}")
                              for i, v in enumerate(self.weights)]
        self.raw = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"raw_{i}")
                    for i, v in enumerate(self.weights)]
        self.averaged = False  # whether the model holds the average now
        self._use_average = tf.function(self._swap_in)
        self._use_raw = tf.function(self._swap_out)

    @property
    def average(self):
        return self.state.average

    def start(self) -> None:
        """The average starts from the current weights (before the first step)."""
        for a, w in zip(self.average, self.weights):
            a.assign(w)

    def update(self) -> None:
        """``average <- tau * average + (1 - tau) * weights``; graph-friendly (cross-replica context)."""
        tau = self.tau
        for a, w in zip(self.average, self.weights):
            a.assign(tau * a + (1.0 - tau) * w)

    def _swap_in(self):
        for a, r, w in zip(self.average, self.raw, self.weights):
            r.assign(w)
            constraint = getattr(w, "constraint", None)  # a masked kernel stays zero where pruned
            w.assign(constraint(a) if constraint is not None else a)

    def _swap_out(self):
        for r, w in zip(self.raw, self.weights):
            w.assign(r)

    def use_average(self) -> None:
        """The model takes the average; its raw weights go to ``raw`` (no-op if it holds it already)."""
        if not self.averaged:
            self._use_average()
            self.averaged = True

    def use_raw(self) -> None:
        """The model takes back its raw weights, exactly (no-op if it holds them)."""
        if self.averaged:
            self._use_raw()
            self.averaged = False


class UseAverage(Hook):
    """At each evaluation point, before the evaluation hooks: the model holds ``trainer.averaging``'s
    average. Saves the average in the checkpoint."""

    def state(self, trainer):
        return {"weight_average": trainer.averaging.state}

    def after_eval(self, trainer, step, record):
        trainer.averaging.use_average()


class UseRaw(Hook):
    """At each evaluation point, after the evaluation hooks: the model holds its raw weights again."""

    def after_eval(self, trainer, step, record):
        trainer.averaging.use_raw()
