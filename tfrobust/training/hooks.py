"""Hooks let later methods act at chosen points of training: prune, reset, ADMM updates, ...

Subclass :class:`Hook` and override what you need; each method receives the trainer (model,
optimizer, config, run directory) and the iteration.
"""
from __future__ import annotations


class Hook:
    def before_train(self, trainer, start_step: int) -> None:
        """After the model is built (and restored, when resuming), before the first step."""

    def after_step(self, trainer, step: int) -> None:
        """After optimizer step ``step`` (1-based)."""

    def after_eval(self, trainer, step: int, record: dict) -> None:
        """After the evaluation at ``step`` was recorded, before the checkpoint is saved."""

    def after_train(self, trainer) -> None:
        """After the last step, before results.json is written."""
