"""Snapshots (``--snapshots``): the evaluated model at every evaluation point, as Stutz et al. keep
theirs (every 5th epoch) to study robust overfitting and flatness along training."""
from __future__ import annotations

import os

from tfrobust.saving import save_model
from tfrobust.training.hooks import Hook


def snapshot_path(step: int) -> str:
    """Where the snapshot of iteration ``step`` lives, relative to the run directory."""
    return f"snapshots/step_{step:06d}.keras"


def evaluation_steps(train_iters: int, eval_every: int):
    """The iterations at which the trainer evaluates: every ``eval_every`` and the last."""
    steps = list(range(eval_every, train_iters + 1, eval_every))
    return steps if steps and steps[-1] == train_iters else steps + [train_iters]


class Snapshots(Hook):
    """At each evaluation point, after :class:`~tfrobust.training.hooks.Evaluation`: the evaluated
    model (the average, with ``--weight_average``) goes to ``<run>/snapshots/step_<NNNNNN>.keras``
    (chief only, atomically). A resumed run saves again the points after its checkpoint.
    results.json gets ``snapshots: [{step, path}]``, paths relative to the run directory."""

    def after_eval(self, trainer, step, record):
        if trainer.setup.chief:
            save_model(trainer.model, os.path.join(trainer.run_dir.path, snapshot_path(step)))

    def results(self, trainer):
        c = trainer.setup.config
        return {"snapshots": [{"step": step, "path": snapshot_path(step)}
                              for step in evaluation_steps(c.train_iters, c.eval_every)]}
