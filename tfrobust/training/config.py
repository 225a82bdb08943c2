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
from tfrobust.errors import ConfigError

# Set by the build step, not by the user, in an --objective spec.
OBJECTIVE_RESERVED = ("attack", "label_smoothing", "num_classes")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    experiment: str = field("train", "Experiment name: the run directory is <base_dir>/<experiment>/<id>/.")
    model: str = field("dense-300-100", "Model spec name[:option=value,...], e.g. lenet:width=16 (every model also "
                                        "takes rotation_head=true: a 4-way rotation head for --objective=rotation).")
    dataset: str = field("fashion_mnist", "Dataset spec name[:option=value,...].")
    valid_size: int = field(10000, "Training examples held out for validation (0: none).", kind="size")
    train_examples: int = field(0, "Train on only the first this many training examples left after the validation "
                                   "split is carved (the validation split does not change; 0: all).", kind="size")
    batch_size: int = field(60, "Global training batch size (split across replicas).", kind="size")
    eval_batch_size: int = field(1000, "Evaluation batch size (larger is faster where memory allows; "
                                       "evaluation PGD's results do not depend on it).", kind="size")
    train_iters: int = field(2000, "Training iterations (optimizer steps).")
    eval_every: int = field(500, "Evaluate on validation and test every this many iterations.")
    eval_examples: int = field(0, "Examples of each evaluation split to use (0: all).", kind="size")
    compact_eval: bool = field(True, "Evaluation attacks that allow it (PGD) attack only the examples still "
                                     "classified correctly, in full batches: the same accuracy in less time. "
                                     "false: every example, every restart, to the end.")
    costly_eval_examples: int = field(0, "Examples of each split that costly evaluation attacks (AutoAttack, "
                                         "run at the end only) see (0: as --eval_examples).", kind="size")
    objective: str = field("natural", "Training objective spec name[:option=value,...]: natural, mix "
                                      "(adv_weight=0.5: clean and --attack examples), madry (only --attack "
                                      "examples), trades (beta=6.0: KL to the clean output), mart (beta=6.0: "
                                      "boosted CE plus confidence-weighted KL), awp (xi=0.005: adversarial weight "
                                      "perturbation, layer-wise relative size), rwp (xi=0.5: random weight "
                                      "perturbation), entropy_sgd (inner_steps=5, gamma=1e-4, noise=1e-4, "
                                      "inner_lr=0.1, alpha=0.75), rotation (weight=0.5: self-supervised rotation "
                                      "prediction; needs --model=...,rotation_head=true).")
    attack: str = field("pgd:eps=0.3,step_size=0.05,steps=10",
                        "Attack spec the objective trains against and (unless --eval_attacks) evaluation "
                        "uses. Training takes the attack's training defaults (pgd: its last iterate, "
                        "unless the spec says keep_best=true).")
    predicted_labels: bool = field(False, "Attacks (training and evaluation) use the model's predicted "
                                          "labels instead of the true ones.")
    eval_attacks: Tuple[str, ...] = field((), "Attack specs to evaluate with (default: --attack).")
    label_smoothing: float = field(0.0, "Label smoothing in [0, 1) for the training cross-entropy.")
    label_noise: float = field(0.0, "Label noise in [0, 1) (Stutz et al.'s ln models): each training label the "
                                    "objective's losses see is replaced, with this probability, by a uniformly "
                                    "random class (it may draw the true one), drawn anew for every batch; the "
                                    "training attack still attacks the true labels. 0: off.")
    weight_clip: float = field(0.0, "Clip every weight outside normalisation layers (kernels, biases) to "
                                    "[-weight_clip, weight_clip] before the first step and after every update "
                                    "(0: off).")
    weight_average: float = field(0.0, "Keep an exponential moving average of the weights, avg <- tau * avg + "
                                       "(1 - tau) * w after every step, with this tau in [0, 1) (Stutz et al.: "
                                       "0.9975); evaluations, snapshots, the best model and model.keras use it, "
                                       "training continues on the raw weights (0: off).")
    early_stopping: bool = field(False, "Early stopping by checkpoint selection: keep the weights with the best "
                                        "robust validation accuracy (the first evaluation attack evaluated at "
                                        "every point, else natural) in best/model.keras; training runs to the end.")
    snapshots: bool = field(False, "Save the evaluated model at every evaluation point to "
                                   "snapshots/step_<NNNNNN>.keras.")
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
    seed: int = field(0, "Seed for weights, data order and attack starts.", kind="seed")
    strategy: str = field("default", "tf.distribute strategy: default, mirrored or multi_worker.")
    devices: Tuple[str, ...] = field((), "Mirrored: devices to use (default: all GPUs, else the CPU).")

    def __post_init__(self):
        from tfrobust.distribute import STRATEGIES
        from tfrobust.spec import parse_flag_spec
        from tfrobust.training.objectives import OBJECTIVES
        from tfrobust.training.optim import OPTIMIZERS, SCHEDULES

        self.check_bounds()
        bad = self.bad
        if not self.experiment or "/" in self.experiment or self.experiment.startswith("."):
            bad("experiment", "it must be a plain directory name")
        for name in ("valid_size", "train_examples", "eval_examples", "costly_eval_examples", "seed"):
            if getattr(self, name) < 0:
                bad(name, "it must be >= 0")
        for name in ("batch_size", "eval_batch_size", "train_iters", "eval_every", "cycle_iters"):
            if getattr(self, name) < 1:
                bad(name, "it must be >= 1")
        parse_flag_spec("objective", self.objective, OBJECTIVES, reserved=OBJECTIVE_RESERVED)
        for name, allowed in (("optimizer", OPTIMIZERS.names()), ("schedule", SCHEDULES.names()),
                              ("strategy", STRATEGIES)):
            if getattr(self, name) not in allowed:
                bad(name, f"allowed: {', '.join(allowed)}")
        for name in ("label_smoothing", "label_noise"):
            if not 0.0 <= getattr(self, name) < 1.0:
                bad(name, "it must be in [0, 1)")
        if not 0.0 <= self.weight_average < 1.0:
            bad("weight_average", "it must be in [0, 1) (0: off)")
        if self.early_stopping and self.valid_size == 0:
            raise ConfigError("--early_stopping needs a validation split: set --valid_size > 0")
        if not 0.0 <= self.min_lr_factor <= 1.0:
            bad("min_lr_factor", "it must be in [0, 1]")
        for name in ("l1_reg", "weight_decay", "momentum", "weight_clip"):
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
        the lottery's --predicted_labels wrote) becomes the ``predicted_labels`` field. Config dicts
        written before ``compact_eval`` hold 500 as ``eval_batch_size`` when it was the default
        (left out of their run id): it becomes the new default, 1000."""
        values = dict(values)
        if "compact_eval" not in values and values.get("eval_batch_size") == 500:
            values["eval_batch_size"] = 1000
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
