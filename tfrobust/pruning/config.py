"""The lottery-ticket configuration: reset strategy, rounds, rates, and the training of each round.

Field names are the flag names of ``runs.lottery``; the training settings of every round are a
:class:`~tfrobust.training.config.TrainConfig`. The experiment id hashes both.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from tfrobust.errors import ConfigError
from tfrobust.training.config import TrainConfig, _f

RESETS = ("reinit_orig", "reinit_rand", "reinit_none", "no_pruning")
ORIG_SOURCES = ("init", "trained")


@dataclasses.dataclass(frozen=True)
class LotteryConfig:
    experiment: str = _f("reinit_orig", "Reset strategy after each pruning step: reinit_orig (rewind to "
                                        "the initial weights, or to --rewind_iter), reinit_rand (a fresh "
                                        "draw), reinit_none (keep training), or no_pruning (baseline).")
    trials: int = _f(10, "Independent trials (seeds seed, seed+1, ...).")
    prune_iters: int = _f(20, "Pruning rounds per trial: round 0 trains the full network.")
    prune_rate: float = _f(0.2, "Fraction of the remaining weights pruned per round in each layer.")
    output_prune_rate: float = _f(0.1, "The same for the output (last masked) layer.")
    layer_prune_rates: Tuple[str, ...] = _f((), "Per-layer overrides, layer=rate.")
    global_prune_rate: float = _f(0.0, "If > 0: one rate over the remaining weights of all layers "
                                       "(the smallest magnitudes anywhere go first) instead of per-layer rates.")
    skip_layers: Tuple[str, ...] = _f((), "Layers never pruned.")
    rewind_iter: int = _f(0, "reinit_orig: rewind to the weights after this many iterations of round 0.")
    orig_reset_source: str = _f("init", "reinit_orig rewinds to: init (the paper) or trained (the "
                                        "reference code's quirk: round 0's trained weights).")
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def __post_init__(self):
        def bad(flag, allowed):
            raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed; {allowed}")

        if self.experiment not in RESETS:
            bad("experiment", f"allowed: {', '.join(RESETS)}")
        if self.orig_reset_source not in ORIG_SOURCES:
            bad("orig_reset_source", f"allowed: {', '.join(ORIG_SOURCES)}")
        for name in ("trials", "prune_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        for name in ("prune_rate", "output_prune_rate", "global_prune_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, "a pruning rate must be in [0, 1)")
        self.layer_rate_overrides()  # validates
        if not 0 <= self.rewind_iter <= self.train.train_iters:
            bad("rewind_iter", f"it must be in [0, --train_iters={self.train.train_iters}]")
        if self.rewind_iter and (self.experiment != "reinit_orig" or self.orig_reset_source != "init"):
            bad("rewind_iter", "only --experiment=reinit_orig with --orig_reset_source=init rewinds")

    @property
    def rounds(self) -> int:
        return 1 if self.experiment == "no_pruning" else self.prune_iters

    def layer_rate_overrides(self) -> Dict[str, float]:
        out = {}
        for item in self.layer_prune_rates:
            name, sep, value = item.partition("=")
            try:
                rate = float(value)
            except ValueError:
                rate = None
            if not sep or not name or rate is None or not 0.0 <= rate < 1.0:
                raise ConfigError(f"--layer_prune_rates={item!r} is not allowed; write layer=rate "
                                  "with the rate in [0, 1)")
            out[name] = rate
        return out

    @property
    def global_rate(self) -> Optional[float]:
        return self.global_prune_rate or None

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "train"}
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["train"] = self.train.to_dict()
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "LotteryConfig":
        values = dict(values)
        train = TrainConfig.from_dict(values.pop("train", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown lottery settings: {', '.join(unknown)}")
        return cls(train=train, **{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
