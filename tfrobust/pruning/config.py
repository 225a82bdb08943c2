"""The lottery-ticket configuration: reset strategy, rounds, rates, and the training of each round.

Field names are the flag names of ``runs.lottery``; the training settings of every round are a
:class:`~tfrobust.training.config.TrainConfig`. The run id hashes the changed fields of both.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from tfrobust.config import SEED_MAX, Config
from tfrobust.config import field as _f
from tfrobust.errors import ConfigError
from tfrobust.training.config import TrainConfig

RESETS = ("reinit_orig", "reinit_rand", "reinit_none", "no_pruning")
ORIG_SOURCES = ("init", "trained")


@dataclasses.dataclass(frozen=True)
class LotteryConfig(Config):
    reset: str = _f("reinit_orig", "Reset strategy after each pruning step: reinit_orig (rewind to "
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
    train: TrainConfig = _f(TrainConfig, "The training of every round.")

    def __post_init__(self):
        self.check_bounds()
        bad = self.bad
        if self.reset not in RESETS:
            bad("reset", f"allowed: {', '.join(RESETS)}")
        if self.orig_reset_source not in ORIG_SOURCES:
            bad("orig_reset_source", f"allowed: {', '.join(ORIG_SOURCES)}")
        for name in ("trials", "prune_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        if self.train.seed + self.trials - 1 > SEED_MAX:
            bad("trials", f"trial t trains with --seed + t, at most {SEED_MAX}: with --seed={self.train.seed}, "
                          f"at most {SEED_MAX - self.train.seed + 1} trials")
        for name in ("prune_rate", "output_prune_rate", "global_prune_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, "a pruning rate must be in [0, 1)")
        self.layer_rate_overrides()  # validates
        if not 0 <= self.rewind_iter <= self.train.train_iters:
            bad("rewind_iter", f"it must be in [0, --train_iters={self.train.train_iters}]")
        if self.rewind_iter and (self.reset != "reinit_orig" or self.orig_reset_source != "init"):
            bad("rewind_iter", "only --reset=reinit_orig with --orig_reset_source=init rewinds")

    @property
    def rounds(self) -> int:
        return 1 if self.reset == "no_pruning" else self.prune_iters

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

    @classmethod
    def migrate(cls, values: dict) -> dict:
        """Config dicts written before the reset strategy was renamed from ``experiment``."""
        values = dict(values)
        if "experiment" in values:
            values["reset"] = values.pop("experiment")
        return values

