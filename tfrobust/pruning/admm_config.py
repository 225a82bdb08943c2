"""The ADMM pruning configuration: ratios, ADMM's settings, the three stages, and their training.

Field names are the flag names of ``runs.admm``; ``train`` (a
:class:`~tfrobust.training.config.TrainConfig`) holds what the stages share: model, data,
objective, attack, evaluation, batch, seed. Each stage replaces its iterations and optimizer
(:meth:`AdmmConfig.stage`). The run id hashes the changed fields of both.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

from tfrobust.config import Config
from tfrobust.config import field as _f
from tfrobust.errors import ConfigError
from tfrobust.pruning.projections import SPARSITY
from tfrobust.training.config import TrainConfig

STAGES = ("pretrain", "admm", "retrain")
RETRAIN_FROM = ("admm", "init")
# The retraining settings: the ADMM stage does not depend on them.
RETRAINING = ("retrain_iters", "retrain_optimizer", "retrain_learning_rate", "retrain_from")


def parse_ratios(items) -> Dict[str, float]:
    """``("conv_1:0.8", "fc_1:0.95")`` -> ``{"conv_1": 0.8, "fc_1": 0.95}``; each ratio in [0, 1)."""
    out = {}
    for item in items:
        name, sep, value = str(item).partition(":")
        try:
            ratio = float(value)
        except ValueError:
            ratio = None
        if not sep or not name or ratio is None or not 0.0 <= ratio < 1.0:
            raise ConfigError(f"--prune_ratios={item!r} is not allowed; write layer:ratio with the ratio in [0, 1)")
        if name in out:
            raise ConfigError(f"--prune_ratios names {name!r} twice")
        out[name] = ratio
    return out


@dataclasses.dataclass(frozen=True)
class AdmmConfig(Config):
    prune_ratios: Tuple[str, ...] = _f((), "Per-layer prune ratios, layer:ratio (the fraction of the layer's "
                                           "units removed), e.g. conv_1:0.8,fc_1:0.95.")
    prune_ratio: float = _f(0.0, "The prune ratio of every prunable layer that --prune_ratios does not name.")
    sparsity: str = _f("irregular", "Sparsity: irregular (single weights), filter (output channels) or column "
                                    "(input columns of the weight as (out, -1)).")
    rho: float = _f(1e-3, "ADMM's initial penalty rho.")
    rho_growth: float = _f(1.3, "rho is multiplied by this at every Z/U update.")
    admm_every: int = _f(500, "Iterations between Z/U updates (an ADMM period).")
    pretrain_iters: int = _f(2000, "Iterations of the pretraining stage (0: ADMM starts from the initial weights).")
    admm_iters: int = _f(5000, "Iterations of the ADMM stage (0: one-shot pruning of the pretrained weights).")
    retrain_iters: int = _f(2000, "Iterations of masked retraining after the hard prune.")
    admm_optimizer: str = _f("sgd", "The ADMM stage's optimizer (the reference: SGD, momentum 0.9).")
    admm_learning_rate: float = _f(0.01, "The ADMM stage's learning rate.")
    restart_lr: bool = _f(True, "Restart the ADMM stage's learning rate at every period, x0.1 after each "
                                "third of it (the reference); else --schedule.")
    retrain_optimizer: str = _f("adam", "The retraining stage's optimizer.")
    retrain_learning_rate: float = _f(1e-3, "The retraining stage's learning rate.")
    retrain_from: str = _f("admm", "Retraining starts from the ADMM stage's weights (admm), or from the "
                                   "network's initial weights under the same masks (init: the lottery ticket).")
    train: TrainConfig = _f(TrainConfig, "What the stages share: model, data, objective, attack, evaluation.")

    def __post_init__(self):
        self.check_bounds()
        bad = self.bad
        ratios = parse_ratios(self.prune_ratios)
        if not 0.0 <= self.prune_ratio < 1.0:
            bad("prune_ratio", "it must be in [0, 1)")
        if not ratios and not self.prune_ratio:
            raise ConfigError("nothing to prune: give --prune_ratio or --prune_ratios")
        if self.sparsity not in SPARSITY:
            bad("sparsity", f"allowed: {', '.join(SPARSITY)}")
        if not (self.rho > 0 and math.isfinite(self.rho)):
            bad("rho", "it must be a finite number > 0")
        if not (self.rho_growth >= 1 and math.isfinite(self.rho_growth)):
            bad("rho_growth", "it must be a finite number >= 1")
        for name in ("admm_every", "retrain_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        for name in ("pretrain_iters", "admm_iters"):
            if getattr(self, name) < 0:
                bad(name, "it must be >= 0")
        from tfrobust.training.optim import OPTIMIZERS

        for stage in ("admm", "retrain"):
            if getattr(self, f"{stage}_optimizer") not in OPTIMIZERS.names():
                bad(f"{stage}_optimizer", f"allowed: {', '.join(OPTIMIZERS.names())}")
            lr = getattr(self, f"{stage}_learning_rate")
            if not (lr > 0 and math.isfinite(lr)):
                bad(f"{stage}_learning_rate", "it must be a finite number > 0")
        if self.retrain_from not in RETRAIN_FROM:
            bad("retrain_from", f"allowed: {', '.join(RETRAIN_FROM)}")
        for stage in STAGES:  # each stage's TrainConfig validates its own settings
            self.stage(stage)

    @property
    def method(self) -> str:
        """``admm``, ``oneshot`` (no ADMM stage: magnitude pruning of the pretrained weights), or
        ``admm-lt`` / ``oneshot-lt`` when retraining starts from the initial weights."""
        name = "admm" if self.admm_iters else "oneshot"
        return name + ("-lt" if self.retrain_from == "init" else "")

    def ratios(self, names) -> Dict[str, float]:
        """Mask name -> prune ratio for the model's prunable ``names`` (unknown names fail)."""
        from tfrobust.layers.masks import unknown_masks_error

        ratios = parse_ratios(self.prune_ratios)
        unknown = set(ratios) - set(names)
        if unknown:
            raise unknown_masks_error(unknown, names)
        return {name: ratios.get(name, self.prune_ratio) for name in names}

    def stage(self, name: str) -> TrainConfig:
        """The TrainConfig of stage ``name`` (``pretrain``, ``admm`` or ``retrain``)."""
        t = self.train
        try:
            if name == "pretrain":
                return dataclasses.replace(t, experiment="pretrain", train_iters=max(self.pretrain_iters, 1))
            if name == "admm":
                schedule = {}
                if self.restart_lr:
                    third = self.admm_every // 3
                    bounds = (third, 2 * third) if third >= 1 else ()
                    schedule = dict(schedule="restart", cycle_iters=self.admm_every, lr_boundaries=bounds,
                                    lr_factors=(0.1, 0.01)[:len(bounds)])
                return dataclasses.replace(t, experiment="admm", train_iters=max(self.admm_iters, 1),
                                           optimizer=self.admm_optimizer, learning_rate=self.admm_learning_rate,
                                           **schedule)
            if name == "retrain":
                return dataclasses.replace(t, experiment="retrain", train_iters=self.retrain_iters,
                                           optimizer=self.retrain_optimizer, learning_rate=self.retrain_learning_rate)
        except ConfigError as e:
            raise ConfigError(f"the {name} stage: {e}") from None
        raise ConfigError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
