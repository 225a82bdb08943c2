"""The training configuration: one frozen dataclass, each field's help text beside it.

Field names are the flag names of ``runs.train`` (the flags are generated from these fields), so a
validation error names the flag. Names (objectives, optimizers, schedules, strategies) are checked
against their registries. The run id hashes the fields that differ from their defaults; where the
data lives and how chatty a run is are not part of it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Tuple

from tfrobust.config import Config, field

# Set by the build step, not by the user, in an --objective spec.
OBJECTIVE_RESERVED = ("attack", "label_smoothing", "num_classes")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    experiment: str = field("train", "Experiment name: the run directory is <base_dir>/<experiment>/<id>/.")
    model: str = field("dense-300-100", "Model spec name[:option=value,...], e.g. lenet:width=16.")
    dataset: str = field("fashion_mnist", "Dataset spec name[:option=value,...].")
    valid_size: int = field(10000, "Training examples held out for validation (0: none).")
    batch_size: int = field(60, "Global training batch size (split across replicas).")
    eval_batch_size: int = field(500, "Evaluation batch size.")
    train_iters: int = field(2000, "Training iterations (optimizer steps).")
    eval_every: int = field(500, "Evaluate on validation and test every this many iterations.")
    eval_examples: int = field(0, "Examples of each evaluation split to use (0: all).")
    costly_eval_examples: int = field(0, "Examples of each split that costly evaluation attacks (AutoAttack, "
                                         "run at the end only) see (0: as --eval_examples).")
    objective: str = field("natural", "Training objective spec name[:option=value,...]: natural, mix "
                                      "(adv_weight=0.5: clean and --attack examples), madry (only --attack "
                                      "examples), trades (beta=6.0: KL to the clean output).")
    attack: str = field("pgd:eps=0.3,step_size=0.05,steps=10",
                        "Attack spec the objective trains against and (unless --eval_attacks) evaluation "
                        "uses. Training takes the attack's training defaults (pgd: its last iterate, "
                        "unless the spec says keep_best=true).")
    predicted_labels: bool = field(False, "Attacks (training and evaluation) use the model's predicted "
                                          "labels instead of the true ones.")
    eval_attacks: Tuple[str, ...] = field((), "Attack specs to evaluate with (default: --attack).")
    label_smoothing: float = field(0.0, "Label smoothing in [0, 1) for the training cross-entropy.")
    l1_reg: float = field(0.0, "L1 penalty on the prunable (masked) weights.")
    optimizer: str = field("adam", "Optimizer: adam or sgd.")
    learning_rate: float = field(1.2e-3, "Peak learning rate.")
    momentum: float = field(0.9, "SGD momentum.")
    nesterov: bool = field(False, "Nesterov momentum for SGD.")
    weight_decay: float = field(0.0, "Decoupled weight decay (AdamW-style for adam).")
    schedule: str = field("constant", "Learning-rate schedule: constant, piecewise, cosine, cyclic or restart "
                                      "(piecewise, starting again every --cycle_iters).")
    lr_boundaries: Tuple[int, ...] = field((), "Piecewise and restart: iterations at which the rate changes "
                                                "(restart: counted from the cycle's start).")
    lr_factors: Tuple[float, ...] = field((), "Piecewise and restart: rate multipliers after each boundary.")
    cycle_iters: int = field(1000, "Cyclic and restart: iterations of one cycle.")
    min_lr_factor: float = field(0.0, "Cosine and cyclic: the lowest rate as a fraction of the peak.")
    seed: int = field(0, "Seed for weights, data order and attack starts.")
    strategy: str = field("default", "tf.distribute strategy: default, mirrored or multi_worker.")
    devices: Tuple[str, ...] = field((), "Mirrored: devices to use (default: all GPUs, else the CPU).")

    def __post_init__(self):
        from tfrobust.distribute import STRATEGIES
        from tfrobust.spec import parse_flag_spec
        from tfrobust.training.objectives import OBJECTIVES
        from tfrobust.training.optim import OPTIMIZERS, SCHEDULES

        bad = self.bad
        if not self.experiment or "/" in self.experiment or self.experiment.startswith("."):
            bad("experiment", "it must be a plain directory name")
        for name in ("valid_size", "eval_examples", "costly_eval_examples", "seed"):
            if getattr(self, name) < 0:
                bad(name, "it must be >= 0")
        if self.seed >= 2 ** 63:
            bad("seed", "it must be < 2**63 (seeds are int64)")
        for name in ("batch_size", "eval_batch_size", "train_iters", "eval_every", "cycle_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        parse_flag_spec("objective", self.objective, OBJECTIVES, reserved=OBJECTIVE_RESERVED)
        for name, allowed in (("optimizer", OPTIMIZERS.names()), ("schedule", SCHEDULES.names()),
                              ("strategy", STRATEGIES)):
            if getattr(self, name) not in allowed:
                bad(name, f"allowed: {', '.join(allowed)}")
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
            if not self.lr_boundaries:
                bad("lr_boundaries", "piecewise needs at least one boundary, and as many --lr_factors")
        if self.schedule in ("piecewise", "restart"):
            if len(self.lr_boundaries) != len(self.lr_factors):
                bad("lr_boundaries", f"{self.schedule} needs as many --lr_factors as boundaries")
            if list(self.lr_boundaries) != sorted(set(self.lr_boundaries)) \
                    or any(b < 1 for b in self.lr_boundaries):
                bad("lr_boundaries", "they must be increasing iterations >= 1")
        if self.schedule == "restart" and any(b >= self.cycle_iters for b in self.lr_boundaries):
            bad("lr_boundaries", f"restart boundaries must be below --cycle_iters={self.cycle_iters}")
        if not all(f > 0 and math.isfinite(f) for f in self.lr_factors):
            bad("lr_factors", "each factor must be a finite number > 0")
        if self.devices and self.strategy != "mirrored":
            bad("devices", "only --strategy=mirrored takes devices")

    @property
    def evaluation_attacks(self) -> Tuple[str, ...]:
        return self.eval_attacks or (self.attack,)

    @classmethod
    def migrate(cls, values: dict) -> dict:
        """Config dicts written before objectives (they have ``step``): ``step`` + ``adv_weight``
        become ``objective``, and a ``predicted_labels=true`` that every attack spec carried (what
        the lottery's --predicted_labels wrote) becomes the ``predicted_labels`` field."""
        values = dict(values)
        if "step" not in values:
            return values
        step, weight = values.pop("step"), values.pop("adv_weight", 0.5)
        values["objective"] = ("natural" if step == "natural" else "madry" if weight == 1.0
                               else "mix" if weight == 0.5 else f"mix:adv_weight={weight}")
        strip = _strip_option("predicted_labels=true")
        specs = [values.get("attack", cls.attack), *values.get("eval_attacks", ())]
        if all(strip(spec) != spec for spec in specs):
            values["predicted_labels"] = True
            values["attack"] = strip(values.get("attack", cls.attack))
            if "eval_attacks" in values:
                values["eval_attacks"] = [strip(spec) for spec in values["eval_attacks"]]
        return values


def _strip_option(option: str):
    def strip(spec: str) -> str:
        name, _, rest = spec.partition(":")
        items = [item for item in rest.split(",") if item and item.strip() != option]
        return f"{name}:{','.join(items)}" if items else name
    return strip
