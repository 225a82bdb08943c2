"""The training engine: one strategy-aware loop, step functions, optimizers, schedules, hooks."""
from tfrobust.training.config import TrainConfig
from tfrobust.training.hooks import Hook
from tfrobust.training.loop import Trainer, train
from tfrobust.training.steps import STEPS

__all__ = ["Hook", "STEPS", "TrainConfig", "Trainer", "train"]
