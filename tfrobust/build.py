"""The build step: the one place that turns a :class:`~tfrobust.training.TrainConfig` into objects.

    setup = build(config, data_dir)          # strategy, splits, model factory, objective, attacks
    model = setup.new_model()                # in the strategy's scope
    other = setup.with_config(replace(config, seed=1))   # same strategy and splits, new objects

Every spec (model, dataset, objective, attacks) is parsed here, once. :func:`check` parses them
without loading data or making a strategy, so a command line can fail on a bad flag before
anything slow or anything written. An error names the flag (``--attack=pgd:eps=-1: ...``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

from tfrobust import attacks, distribute, models
from tfrobust.errors import ConfigError
from tfrobust.spec import parse_flag_spec
from tfrobust.training import regularizers
from tfrobust.training.config import OBJECTIVE_RESERVED, TrainConfig
from tfrobust.training.objectives import OBJECTIVES, Objective

MODEL_RESERVED = ("input_shape", "num_classes", "seed")


@dataclasses.dataclass(frozen=True)
class Parts:
    """What a config's specs parse into, before data and devices: checked, not yet placed."""

    model_name: str
    model_options: dict
    train_attack: attacks.Attack
    eval_attacks: Dict[str, attacks.Attack]
    objective: Objective
    regularizers: Tuple


@dataclasses.dataclass(frozen=True)
class Setup(Parts):
    """Everything a run needs besides its run directory; :class:`~tfrobust.training.Trainer` loops
    over it."""

    config: TrainConfig = None
    strategy: object = None
    splits: object = None
    transform: Optional[Callable] = None  # model -> the model a stage trains (factorized, quantized, ...)

    @property
    def chief(self) -> bool:
        return distribute.is_chief(self.strategy)

    def new_model(self, seed: Optional[int] = None):
        """A fresh model of the config (initialiser seed ``seed``, default the config's), built in
        the strategy's scope, then passed through :attr:`transform` if the setup has one; an error
        names ``--model``."""
        with self.strategy.scope():
            try:
                model = models.build_model(self.model_name, self.splits.input_shape, self.splits.num_classes,
                                           seed=self.config.seed if seed is None else seed, **self.model_options)
            except ConfigError as e:
                raise ConfigError(f"--model={self.config.model}: {e}") from None
            return self.transform(model) if self.transform is not None else model

    def with_transform(self, transform: Optional[Callable]) -> "Setup":
        """This setup, whose :meth:`new_model` passes each model through ``transform`` (a function
        that returns a model: another architecture, weights a stage starts from, ...)."""
        return dataclasses.replace(self, transform=transform)

    def with_config(self, config: TrainConfig) -> "Setup":
        """The setup of ``config`` on this strategy and these splits (which must fit ``config``).

        A new ``seed`` changes the weights, the data order and the attack starts, not the
        validation split, which was carved with this setup's seed: the lottery's trials share one.
        The :attr:`transform` carries over; regularisers added to this setup (ADMM's penalty) do not.
        """
        same = ("dataset", "valid_size", "train_examples", "batch_size", "eval_batch_size", "strategy", "devices")
        changed = [name for name in same if getattr(config, name) != getattr(self.config, name)]
        if changed:
            raise ConfigError(f"with_config cannot change {', '.join(changed)}: build a new setup")
        return dataclasses.replace(build(config, strategy=self.strategy, splits=self.splits), transform=self.transform)


def _objective(config: TrainConfig, attack: attacks.Attack, num_classes: int) -> Objective:
    name, options = parse_flag_spec("objective", config.objective, OBJECTIVES, reserved=OBJECTIVE_RESERVED)
    cls = OBJECTIVES.get(name)
    try:
        return cls(attack=attack if cls.uses_attack else None, label_smoothing=config.label_smoothing,
                   num_classes=num_classes, **options)
    except ConfigError as e:
        raise ConfigError(f"--objective={config.objective}: {e}") from None


def check(config: TrainConfig, num_classes: int = 10) -> Parts:
    """Parses every spec of ``config`` into objects; no data, no devices, nothing written."""
    model_name, model_options = parse_flag_spec("model", config.model, models.MODELS, reserved=MODEL_RESERVED)
    labels = {"predicted_labels": True} if config.predicted_labels else {}
    train_attack = attacks.with_options(attacks.from_spec(config.attack, "attack", training=True), **labels)
    flag = "eval_attacks" if config.eval_attacks else "attack"
    evaluation = {}
    for spec in config.evaluation_attacks:
        attack = attacks.with_options(attacks.from_spec(spec, flag), **labels)
        evaluation[attack.label] = attack
    objective = _objective(config, train_attack, num_classes)
    try:
        objective.check_model_options(model_options)
    except ConfigError as e:
        raise ConfigError(f"--objective={config.objective}: {e}") from None
    return Parts(model_name, model_options, train_attack, evaluation, objective,
                 tuple(regularizers.from_config(config)))


def load_splits(config: TrainConfig, data_dir: Optional[str] = None):
    """The train / valid / test pipelines of ``--dataset`` with the config's sizes and seed."""
    from tfrobust import data

    name, options = parse_flag_spec("dataset", config.dataset, data.DATASETS, reserved=("data_dir",))
    return data.load(name, batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
                     valid_size=config.valid_size, seed=config.seed, data_dir=data_dir,
                     max_train=config.train_examples or None, **options)


def build(config: TrainConfig, data_dir: Optional[str] = None, strategy=None, splits=None) -> Setup:
    """The :class:`Setup` of ``config``. ``strategy`` and ``splits`` reuse what a driver already
    has (a MultiWorkerMirroredStrategy can be made only once per process)."""
    parts = check(config)
    strategy = strategy or distribute.make_strategy(config.strategy, config.devices)
    splits = splits or load_splits(config, data_dir)
    for flag, attack in [("attack", parts.train_attack)] + [("eval_attacks", a) for a in parts.eval_attacks.values()]:
        try:
            attack.check_input(splits.input_shape)
            attack.check_classes(splits.num_classes)
        except ConfigError as e:
            raise ConfigError(f"--{flag}={attack.label}: {e}") from None
    try:
        parts.objective.check_input(splits.input_shape)
    except ConfigError as e:
        raise ConfigError(f"--objective={config.objective}: {e}") from None
    objective = dataclasses.replace(parts.objective, num_classes=splits.num_classes)
    fields = {f.name: getattr(parts, f.name) for f in dataclasses.fields(Parts)}
    return Setup(**{**fields, "objective": objective}, config=config, strategy=strategy, splits=splits)
