"""The training engine: one strategy-aware loop, objectives, regularisers, optimizers, schedules, hooks."""
from tfrobust.training.config import TrainConfig
from tfrobust.training.hooks import Checkpointing, Divergence, Evaluation, Hook, Progress, TensorBoard
from tfrobust.training.loop import Trainer, make_train_step, train
from tfrobust.training.objectives import OBJECTIVES, Objective

__all__ = ["Checkpointing", "Divergence", "Evaluation", "Hook", "OBJECTIVES", "Objective", "Progress", "TensorBoard",
           "TrainConfig", "Trainer", "make_train_step", "train"]
