"""The training configuration: one frozen dataclass, each field's help text beside it.

Field names are the flag names of ``runs.train`` (the flags are generated from these fields), so a
validation error names the flag. The experiment id is a hash of these fields; where the data lives
and how chatty a run is are not part of it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Tuple

from tfrobust.errors import ConfigError

STEPS = ("natural", "adversarial")
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "piecewise", "cosine", "cyclic")
STRATEGIES = ("default", "mirrored", "multi_worker")


def _f(default, help_text):
    return dataclasses.field(default=default, metadata={"help": help_text})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    experiment: str = _f("train", "Experiment name: the run directory is <base_dir>/<experiment>/<id>/.")
    model: str = _f("dense-300-100", "Model spec name[:option=value,...], e.g. lenet:width=16.")
    dataset: str = _f("fashion_mnist", "Dataset spec name[:option=value,...].")
    valid_size: int = _f(10000, "Training examples held out for validation (0: none).")
    batch_size: int = _f(60, "Global training batch size (split across replicas).")
    eval_batch_size: int = _f(500, "Evaluation batch size.")
    train_iters: int = _f(2000, "Training iterations (optimizer steps).")
    eval_every: int = _f(500, "Evaluate on validation and test every this many iterations.")
    eval_examples: int = _f(0, "Examples of each evaluation split to use (0: all).")
    step: str = _f("natural", "Training step: natural or adversarial.")
    attack: str = _f("pgd:eps=0.3,step_size=0.05,steps=10",
                     "Attack spec used for adversarial training and (unless --eval_attacks) evaluation. "
                     "Training with pgd uses its last iterate unless the spec says keep_best=true.")
    adv_weight: float = _f(0.5, "Weight of the adversarial loss in [0, 1]; the clean loss gets 1 - it "
                                "(0.5: the lottery document; 1.0: Madry's training).")
    eval_attacks: Tuple[str, ...] = _f((), "Attack specs to evaluate with (default: --attack).")
    label_smoothing: float = _f(0.0, "Label smoothing in [0, 1) for the training loss.")
    l1_reg: float = _f(0.0, "L1 penalty on the (masked) kernels.")
    optimizer: str = _f("adam", "Optimizer: adam or sgd.")
    learning_rate: float = _f(1.2e-3, "Peak learning rate.")
    momentum: float = _f(0.9, "SGD momentum.")
    nesterov: bool = _f(False, "Nesterov momentum for SGD.")
    weight_decay: float = _f(0.0, "Decoupled weight decay (AdamW-style for adam).")
    schedule: str = _f("constant", "Learning-rate schedule: constant, piecewise, cosine or cyclic.")
    lr_boundaries: Tuple[int, ...] = _f((), "Piecewise: iterations at which the rate changes.")
    lr_factors: Tuple[float, ...] = _f((), "Piecewise: rate multipliers after each boundary.")
    cycle_iters: int = _f(1000, "Cyclic: iterations of one triangular cycle.")
    min_lr_factor: float = _f(0.0, "Cosine and cyclic: the lowest rate as a fraction of the peak.")
    seed: int = _f(0, "Seed for weights, data order and attack starts.")
    strategy: str = _f("default", "tf.distribute strategy: default, mirrored or multi_worker.")
    devices: Tuple[str, ...] = _f((), "Mirrored: devices to use (default: all GPUs, else the CPU).")

    def __post_init__(self):
        def bad(flag, allowed):
            raise ConfigError(f"--{flag}={getattr(self, flag)!r} is not allowed; {allowed}")

        for name in ("valid_size", "eval_examples", "seed"):
            if getattr(self, name) < 0:
                bad(name, "it must be >= 0")
        for name in ("batch_size", "eval_batch_size", "train_iters", "eval_every", "cycle_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        for name, allowed in (("step", STEPS), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                              ("strategy", STRATEGIES)):
            if getattr(self, name) not in allowed:
                bad(name, f"allowed: {', '.join(allowed)}")
        if not 0.0 <= self.adv_weight <= 1.0:
            bad("adv_weight", "it must be in [0, 1]")
        if not 0.0 <= self.label_smoothing < 1.0:
            bad("label_smoothing", "it must be in [0, 1)")
        if not 0.0 <= self.min_lr_factor <= 1.0:
            bad("min_lr_factor", "it must be in [0, 1]")
        for name in ("l1_reg", "weight_decay", "momentum"):
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name))):
                bad(name, "it must be a finite number >= 0")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            bad("learning_rate", "it must be a finite number > 0")
        if self.schedule == "piecewise":
            if len(self.lr_boundaries) != len(self.lr_factors) or not self.lr_boundaries:
                bad("lr_boundaries", "piecewise needs as many --lr_factors as boundaries (at least one)")
            if list(self.lr_boundaries) != sorted(set(self.lr_boundaries)) or self.lr_boundaries[0] < 1:
                bad("lr_boundaries", "they must be increasing iterations >= 1")
        if self.devices and self.strategy != "mirrored":
            bad("devices", "only --strategy=mirrored takes devices")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(known[k].default, tuple) else v for k, v in values.items()})

    @property
    def evaluation_attacks(self) -> Tuple[str, ...]:
        return self.eval_attacks or (self.attack,)
