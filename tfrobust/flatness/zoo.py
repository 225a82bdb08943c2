"""The zoo of adversarial-training variants that Stutz et al. (seed 001) compare: each variant is a
change to one shared training config, named by a spec (``trades:beta=6``), trained as an ordinary
run with snapshots through training.

    zoo = Zoo(template, ["at", "trades:beta=6", "awp:xi=0.005"], base_dir)
    record = zoo.run()          # trains (or resumes, or reads) every variant; writes zoo.json

The template is a :class:`~tfrobust.training.TrainConfig` with an adversarial objective (Madry's
``madry`` or ``mix``: the ``at`` variant is the template itself). A variant is either a registered
training objective's spec (``trades:beta=6``, ``mart``, ``awp:xi=0.005``, ``entropy_sgd:...``: the
template with that objective) or one of :data:`VARIANTS` (label smoothing and noise, weight
clipping, averaging and decay, a cyclic rate, self-supervision). A variant changes the objective,
the label treatment or a weight constraint, never the data, the model's size or the budget, so the
models are comparable. Each run lives in ``<base_dir>/<variant name>/<id>/``. Every variant's
config is built and checked (:func:`tfrobust.build.check`) before anything trains, so a bad spec
fails in one line with nothing written.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

from tfrobust import build
from tfrobust.errors import ConfigError
from tfrobust.io import write_json_atomic
from tfrobust.registry import Registry
from tfrobust.spec import format_spec, parse_spec
from tfrobust.training.config import TrainConfig

VARIANTS: Registry = Registry("flatness variant")


@VARIANTS.register("at")
def at(template: TrainConfig) -> TrainConfig:
    """The template's adversarial training (Madry et al.: PGD on every example, or ``mix``)."""
    return template


@VARIANTS.register("rotation")
def rotation(template: TrainConfig, weight: float = 0.5) -> TrainConfig:
    """Self-supervision: a 4-way rotation head on the model, its cross-entropy weighted by weight."""
    model = template.model if "rotation_head" in template.model else (
        f"{template.model}{',' if ':' in template.model else ':'}rotation_head=true")
    return dataclasses.replace(template, objective=format_spec("rotation", {"weight": weight}), model=model)


@VARIANTS.register("label_smoothing")
def label_smoothing(template: TrainConfig, value: float = 0.1) -> TrainConfig:
    """Label smoothing of the training cross-entropy."""
    return dataclasses.replace(template, label_smoothing=value)


@VARIANTS.register("label_noise")
def label_noise(template: TrainConfig, p: float = 0.1) -> TrainConfig:
    """Label noise, re-drawn for every batch."""
    return dataclasses.replace(template, label_noise=p)


@VARIANTS.register("weight_clip")
def weight_clip(template: TrainConfig, w_max: float = 0.1) -> TrainConfig:
    """Every weight clipped to [-w_max, w_max] after each update."""
    return dataclasses.replace(template, weight_clip=w_max)


@VARIANTS.register("weight_average")
def weight_average(template: TrainConfig, tau: float = 0.9975) -> TrainConfig:
    """An exponential moving average of the weights (evaluated and saved in their place)."""
    return dataclasses.replace(template, weight_average=tau)


@VARIANTS.register("weight_decay")
def weight_decay(template: TrainConfig, value: float = 5e-3) -> TrainConfig:
    """A larger (decoupled) weight decay."""
    return dataclasses.replace(template, weight_decay=value)


@VARIANTS.register("cyclic")
def cyclic(template: TrainConfig, min_lr_factor: float = 0.0) -> TrainConfig:
    """One triangular cycle of the learning rate over the whole run (Smith's cyclic rate)."""
    return dataclasses.replace(template, schedule="cyclic", cycle_iters=template.train_iters,
                               min_lr_factor=min_lr_factor)


def variant_name(spec: str, flag: str = "variants") -> str:
    """The name of variant ``spec``: a :data:`VARIANTS` entry or a training objective (else ConfigError)."""
    from tfrobust.training.objectives import OBJECTIVES

    name = spec.partition(":")[0].strip()
    if name not in VARIANTS and name not in OBJECTIVES:
        raise ConfigError(f"--{flag}: unknown variant {name!r}; known: {', '.join(VARIANTS.names())} and the "
                          f"training objectives {', '.join(OBJECTIVES.names())}")
    return name


def parse_variants(specs: Sequence[str], flag: str = "variants") -> List[str]:
    """The specs of ``--variants`` (whitespace-separated), each a :data:`VARIANTS` entry or a
    training objective; duplicates are an error (two runs of one config)."""
    specs = [s for s in specs if s]
    if not specs:
        raise ConfigError(f"--{flag} is empty: name the variants to train, e.g. at trades mart")
    seen = set()
    for spec in specs:
        if spec in seen:
            raise ConfigError(f"--{flag}: {spec!r} is listed twice")
        seen.add(spec)
        variant_name(spec, flag)
    return specs


def variant_config(template: TrainConfig, spec: str, flag: str = "variants") -> TrainConfig:
    """The training config of variant ``spec``: the template changed by the variant, in experiment
    ``<variant name>``, checked down to its objective's settings (an error names the spec)."""
    name = variant_name(spec, flag)
    try:
        if name in VARIANTS:
            _, options = parse_spec(spec, VARIANTS, reserved=("template",))
            config = VARIANTS.build(name, template=template, **options)
        else:
            config = dataclasses.replace(template, objective=spec)
        config = dataclasses.replace(config, experiment=name)
        build.check(config)
    except ConfigError as e:
        raise ConfigError(f"--{flag}: {spec}: {e}") from None
    return config


def check_objective(template: TrainConfig, specs: Sequence[str]) -> None:
    """For a template whose objective the user set (``--objective``): no variant may set its own
    objective, which would silently replace it (a ConfigError naming both)."""
    own = [spec for spec in parse_variants(specs) if variant_name(spec) not in VARIANTS
           or variant_config(template, spec).objective != template.objective]
    if own:
        raise ConfigError(f"--objective={template.objective} is the objective of every variant, but --variants "
                          f"{' '.join(own)} set their own, which would replace it; leave out --objective or those "
                          f"variants, or list the objective as a variant (--variants='{template.objective} ...')")


def training_run(config: TrainConfig) -> tuple:
    """What a variant trains, whatever its spec's spelling and directory: the config without its
    experiment, with its objective's settings written out in full (``at`` is ``madry`` on a madry
    template; ``trades``, ``trades:beta=6`` and ``trades:beta=6.0`` are one run)."""
    from tfrobust.training.config import OBJECTIVE_RESERVED
    from tfrobust.training.objectives import OBJECTIVES

    name, settings = parse_spec(config.objective, OBJECTIVES, reserved=OBJECTIVE_RESERVED)
    factory = OBJECTIVES.get(name)
    defaults = {f.name: f.default for f in dataclasses.fields(factory) if f.init and f.name not in OBJECTIVE_RESERVED
                and f.default is not dataclasses.MISSING} if dataclasses.is_dataclass(factory) else {}
    rest = {k: v for k, v in config.to_dict().items() if k not in ("experiment", "objective")}
    return json.dumps(rest, sort_keys=True), name, tuple(sorted({**defaults, **settings}.items()))


class Zoo:
    """``Zoo(template, specs, base_dir).run()`` -> the zoo record (also ``<base_dir>/zoo.json``)."""

    def __init__(self, template: TrainConfig, specs: Sequence[str], base_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100):
        self.specs = parse_variants(specs)
        self.configs = {spec: variant_config(template, spec) for spec in self.specs}
        same = {}
        for spec, config in self.configs.items():
            key = training_run(config)
            if key in same:
                raise ConfigError(f"--variants: {same[key]!r} and {spec!r} are the same training run; list it once")
            same[key] = spec
        self.template, self.base_dir, self.data_dir = template, base_dir, data_dir
        self.progress, self.log_every = progress or (lambda text: None), log_every
        self.setup = build.build(template, data_dir)
        self.setups = {}  # each variant built on the data, so a setting the data refuses fails before any training
        for spec, config in self.configs.items():
            try:
                self.setups[spec] = self.setup.with_config(config)
            except ConfigError as e:
                raise ConfigError(f"--variants: {spec}: {e}") from None

    def run(self) -> Dict:
        from tfrobust.experiment import RunDir
        from tfrobust.training import Trainer

        runs = []
        for i, spec in enumerate(self.specs):
            config = self.configs[spec]
            self.progress(f"[{i + 1}/{len(self.specs)}] {spec}")
            setup = self.setups[spec]
            run_dir = RunDir.for_config(self.base_dir, config.experiment, config, self.progress, chief=setup.chief)
            results = Trainer(setup, run_dir, progress=self.progress, log_every=self.log_every).run()
            runs.append({"variant": spec, "path": os.path.relpath(run_dir.path, self.base_dir), "id": run_dir.id,
                         "final": results["final"], "best": results.get("best"),
                         "snapshots": results.get("snapshots", []), "train_seconds": results.get("train_seconds")})
        record = {"kind": "flatness_zoo", "template": self.template.to_dict(), "variants": list(self.specs),
                  "runs": runs}
        if self.setup.chief:
            write_json_atomic(os.path.join(self.base_dir, "zoo.json"), record)
        return record
