"""The ATMC configuration: the method (ATMC or one of its baselines), the budget, the stages and
their shared training. Field names are the flag names of ``runs.atmc``; ``train`` (a
:class:`~tfrobust.training.config.TrainConfig`) holds what the stages share: model, data, the
objective (ATMC's 0.5 clean + 0.5 PGD cross-entropy, ``mix``), attack, evaluation, optimizer,
batch, seed. Each stage replaces its iterations (:meth:`AtmcConfig.stage`).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Dict, Tuple

from tfrobust.compression.l0 import check_keep
from tfrobust.compression.qat import check_qat_bits
from tfrobust.compression.quantize import METHODS as QUANT_METHODS
from tfrobust.compression.quantize import check_bits, check_method
from tfrobust.config import Config
from tfrobust.config import field as _f
from tfrobust.errors import ConfigError
from tfrobust.training.config import TrainConfig

# method -> its stages after the dense one, in order; the models it reports come from the last
# stage (atmc: from both of its stages).
METHODS = {
    "atmc": ("atmc32", "atmcb"),  # factorized W = B(A+I)+C, l0 over A, B, C; then b bits by ADMM
    "da": (),                     # dense adversarial training
    "nap": ("finetune",),         # natural training, tfmot magnitude pruning, natural fine-tuning
    "ap": ("finetune",),          # DA, global magnitude pruning, adversarial fine-tuning
    "al0": ("l0",),               # DA, adversarial training under the l0 projection
    "alr": ("finetune",),         # DA, SVD truncation to a global rank, adversarial fine-tuning
    "qat": ("qat",),              # DA, tfmot quantization-aware adversarial fine-tuning (--bits weights)
}

# ATMC's quantization settings: its 32-bit stage does not depend on them.
QUANTIZATION = ("bits", "quant_method", "rho", "rho_growth", "quant_every", "quant_iters")


def parse_ranks(items) -> Dict[str, int]:
    """``("fc_1:40",)`` -> ``{"fc_1": 40}``; each rank an integer >= 1 (the layer's full rank is
    checked when the model is built)."""
    out = {}
    for item in items:
        name, sep, value = str(item).partition(":")
        if not sep or not name or not value.strip().isdigit() or int(value) < 1:
            raise ConfigError(f"--ranks={item!r} is not allowed; write layer:rank with an integer rank >= 1")
        if name in out:
            raise ConfigError(f"--ranks names {name!r} twice")
        out[name] = int(value)
    return out


@dataclasses.dataclass(frozen=True)
class AtmcConfig(Config):
    method: str = _f("atmc", "atmc, or a baseline: da (dense adversarial), nap (natural training + tfmot "
                             "magnitude pruning + natural fine-tuning), ap (DA + magnitude pruning + adversarial "
                             "fine-tuning), al0 (adversarial training under the l0 projection), alr (SVD truncation "
                             "to a global rank + adversarial fine-tuning), qat (tfmot --bits quantization-aware "
                             "adversarial fine-tuning).")
    keep: float = _f(0.01, "The budget: the fraction of the dense model's weights kept, in (0, 1] (ATMC, al0, ap, "
                           "nap); for alr, the fraction of all singular values kept (the largest, over all layers).")
    ranks: Tuple[str, ...] = _f((), "Factorized layers' ranks, layer:rank,... (alr: instead of --keep's global "
                                    "truncation; atmc: below the full rank, which is the default).")
    bits: int = _f(8, "Bits per weight, in [1, 32]: ATMC's (at most 2**bits distinct values per variable; 32: no "
                      "quantization stage), and QAT's (2 to 8).")
    quant_method: str = _f("kmeans", "ATMC's quantizer: kmeans (a fixed zero centre, the reference's) or "
                                     "uniform (per output channel).")
    rho: float = _f(0.1, "ATMC's ADMM penalty rho for the quantization constraint.")
    rho_growth: float = _f(1.0, "rho is multiplied by this at every Z/U update (the reference: 1).")
    quant_every: int = _f(5, "Iterations between ATMC's Z/U updates (the reference: 5 batches).")
    factorized: bool = _f(True, "ATMC factorizes each layer, W = B(A + I) + C, and keeps the l0 budget over "
                                "B, A and C (else over the weights).")
    dense_iters: int = _f(2000, "Iterations of the dense stage (adversarial; natural for nap), shared by every "
                                "method and budget that trains the same way.")
    compress_iters: int = _f(2000, "Iterations of the compression stage: fine-tuning (nap, ap, alr, qat), l0 "
                                   "training (al0), ATMC's 32-bit stage.")
    quant_iters: int = _f(1000, "Iterations of ATMC's b-bit stage.")
    train: TrainConfig = _f(TrainConfig, "What the stages share: model, data, objective, attack, evaluation.")

    def __post_init__(self):
        self.check_bounds()
        if self.method not in METHODS:
            self.bad("method", f"allowed: {', '.join(METHODS)}")
        check_keep(self.keep)
        parse_ranks(self.ranks)
        try:
            check_bits(self.bits)
        except ConfigError:
            self.bad("bits", "it must be an integer in [1, 32]")
        if self.method == "qat":
            check_qat_bits(self.bits)
        if self.quant_method not in QUANT_METHODS:
            self.bad("quant_method", f"allowed: {', '.join(QUANT_METHODS)}")
        if self.bits < 32:
            try:
                check_method(self.bits, self.quant_method)
            except ConfigError as e:
                raise ConfigError(f"--bits={self.bits} --quant_method={self.quant_method}: {e}") from None
        if not (self.rho > 0 and math.isfinite(self.rho)):
            self.bad("rho", "it must be a finite number > 0")
        if not (self.rho_growth >= 1 and math.isfinite(self.rho_growth)):
            self.bad("rho_growth", "it must be a finite number >= 1")
        for name in ("quant_every", "dense_iters", "compress_iters", "quant_iters"):
            if getattr(self, name) < 1:
                self.bad(name, "it must be >= 1")
        if self.ranks and not (self.method == "alr" or (self.method == "atmc" and self.factorized)):
            raise ConfigError(f"--ranks={','.join(self.ranks)}: method {self.method} has no factorized layers "
                              "(ranks apply to alr, and to atmc with --factorized)")
        for stage in ("dense",) + self.stages:
            self.stage(stage)

    def canonical(self) -> "AtmcConfig":
        """This config with the fields its method does not read at their defaults: ATMC's settings
        for the baselines, the budget for da and qat. Its run id is the pipeline's, so two configs
        that train the same thing share a directory."""
        defaults = {f.name: f.default for f in dataclasses.fields(AtmcConfig) if f.name != "train"}
        reset = []
        if self.method != "atmc":
            reset += ["quant_method", "rho", "rho_growth", "quant_every", "quant_iters", "factorized"]
        if self.method not in ("atmc", "qat"):
            reset += ["bits"]
        if self.method in ("da", "qat"):
            reset += ["keep"]
        if self.method == "da":
            reset += ["compress_iters"]
        return dataclasses.replace(self, **{name: defaults[name] for name in reset})

    def without_quantization(self) -> "AtmcConfig":
        """The config with ATMC's quantization settings at their defaults: what its 32-bit stage depends on."""
        defaults = {f.name: f.default for f in dataclasses.fields(AtmcConfig) if f.name != "train"}
        return dataclasses.replace(self, **{name: defaults[name] for name in QUANTIZATION})

    @property
    def stages(self) -> Tuple[str, ...]:
        """The stages after the dense one (atmc without quantization: its 32-bit stage only)."""
        stages = METHODS[self.method]
        return stages[:1] if self.method == "atmc" and self.bits == 32 else stages

    def stage(self, name: str) -> TrainConfig:
        """The TrainConfig of stage ``name``: ``dense`` (natural training for nap), or a later one."""
        t = self.train
        if name == "dense":
            objective = "natural" if self.method == "nap" else t.objective
            return dataclasses.replace(t, experiment="dense", train_iters=self.dense_iters, objective=objective)
        if name not in self.stages:
            raise ConfigError(f"method {self.method} has no stage {name!r}; its stages: dense, {', '.join(self.stages)}")
        objective = "natural" if self.method == "nap" else t.objective
        iters = self.quant_iters if name == "atmcb" else self.compress_iters
        return dataclasses.replace(t, experiment=name, train_iters=iters, objective=objective)
