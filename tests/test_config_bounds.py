"""Integer bounds, one per kind (tfrobust.config.INTEGER_KINDS), checked by every config; and the
memory checks that refuse sizes no machine holds."""
import dataclasses
import importlib
import pkgutil
import re
from typing import Tuple

import pytest
import tensorflow as tf

import tfrobust
from tfrobust import config as cfg
from tfrobust.config import COUNT_MAX, SEED_MAX, SEED_OFFSET_MAX, SIZE_MAX, Config, field
from tfrobust.errors import ConfigError

GIB = 2 ** 30


@dataclasses.dataclass(frozen=True)
class Kinds(Config):
    steps: int = field(1, "A count (the kind of an integer that says none).")
    batch: int = field(1, "A size.", kind="size")
    seed: int = field(0, "A seed.", kind="seed")
    boundaries: Tuple[int, ...] = field((), "Counts.")

    def __post_init__(self):
        self.check_bounds()


@pytest.mark.parametrize("name, bound, kind", [("steps", COUNT_MAX, "count"), ("batch", SIZE_MAX, "size"),
                                               ("seed", SEED_MAX, "seed")])
def test_each_kind_allows_its_bound_and_refuses_one_more(name, bound, kind):
    assert getattr(Kinds(**{name: bound}), name) == bound
    with pytest.raises(ConfigError, match=rf"^--{name}={bound + 1} is not allowed; it must be an integer <= {bound} "
                                          rf"\(a {kind}: "):
        Kinds(**{name: bound + 1})


def test_every_item_of_a_tuple_of_integers_is_bounded():
    assert Kinds(boundaries=(1, COUNT_MAX)).boundaries == (1, COUNT_MAX)
    with pytest.raises(ConfigError, match=r"^--boundaries=\(1, 2147483648\) is not allowed"):
        Kinds(boundaries=(1, COUNT_MAX + 1))


def test_the_bounds_are_what_tensorflow_holds_with_the_offsets_code_adds():
    assert int(tf.constant(COUNT_MAX, tf.int32)) == COUNT_MAX and int(tf.constant(SIZE_MAX, tf.int32)) == SIZE_MAX
    assert int(tf.constant(COUNT_MAX + 1, tf.int32)) < 0  # one more wraps around, silently
    # a lottery trial t and a round's fresh weights add t + 100_003 r to a seed (t, r counts)
    assert COUNT_MAX + 100_003 * COUNT_MAX < SEED_OFFSET_MAX
    tf.constant([SEED_MAX + SEED_OFFSET_MAX, 0], tf.int64)
    with pytest.raises((ValueError, OverflowError)):
        tf.constant([SEED_MAX + SEED_OFFSET_MAX + 1, 0], tf.int64)
    from tfrobust.attacks import make_attack  # an attack's own steps: the same count bound

    assert make_attack("pgd", steps=COUNT_MAX).steps == COUNT_MAX
    with pytest.raises(ConfigError, match="steps"):
        make_attack("pgd", steps=COUNT_MAX + 1)


def _configs():
    """Every Config subclass of the library, each with settings that are valid."""
    for module in pkgutil.walk_packages(tfrobust.__path__, "tfrobust."):
        importlib.import_module(module.name)
    found, todo = set(), [Config]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("tfrobust."):
                found.add(sub)
    return found


def _valid():
    from tfrobust.compression.atmc_config import AtmcConfig
    from tfrobust.flatness.study import MeasureConfig
    from tfrobust.gtn.config import GTNConfig
    from tfrobust.gtn.robustness import RobustnessConfig
    from tfrobust.pruning.admm_config import AdmmConfig
    from tfrobust.pruning.config import LotteryConfig
    from tfrobust.theory.config import GapConfig
    from tfrobust.training.config import TrainConfig

    return {TrainConfig: {}, LotteryConfig: {}, AdmmConfig: dict(prune_ratio=0.5), AtmcConfig: {},
            MeasureConfig: {}, GTNConfig: {}, RobustnessConfig: {},
            GapConfig: dict(setting="gaussian", eps=(0.1,), n=(1, 2))}  # runs.gengap's, not a Config


def test_every_config_is_checked_here():
    assert _configs() <= set(_valid())


def _above_bounds():
    for cls, settings in _valid().items():
        for f in dataclasses.fields(cls):
            kind = cfg.integer_kind(f)
            if kind is not None:
                above = cfg.INTEGER_KINDS[kind][0] + 1
                yield pytest.param(cls, settings, f.name, (above,) if isinstance(f.default, tuple) else above,
                                   id=f"{cls.__name__}.{f.name}")


@pytest.mark.parametrize("cls, settings, name, value", list(_above_bounds()))
def test_every_integer_of_every_config_is_bounded(cls, settings, name, value):
    cls(**settings)
    with pytest.raises(ConfigError, match=rf"^(--)?{name}={re.escape(repr(value))} is not allowed; it must be an "
                                          rf"integer <= {cfg.INTEGER_KINDS[cfg.integer_kind(_field(cls, name))][0]} "):
        cls(**{**settings, name: value})


def _field(cls, name):
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def test_real_configs_take_values_at_their_bounds():
    from tfrobust.flatness.study import MeasureConfig
    from tfrobust.gtn.config import GTNConfig
    from tfrobust.pruning.admm_config import AdmmConfig
    from tfrobust.training.config import TrainConfig

    TrainConfig(batch_size=SIZE_MAX, eval_batch_size=SIZE_MAX, train_iters=COUNT_MAX, eval_every=COUNT_MAX,
                seed=SEED_MAX)
    AdmmConfig(prune_ratio=0.5, admm_every=COUNT_MAX, admm_iters=COUNT_MAX)
    GTNConfig(outer_iters=COUNT_MAX, seed=SEED_MAX)
    MeasureConfig(worst_steps=COUNT_MAX, examples=SIZE_MAX, seed=SEED_MAX)


def test_a_lottery_keeps_every_trial_seed_within_the_bound():
    from tfrobust.pruning.config import LotteryConfig
    from tfrobust.training.config import TrainConfig

    assert LotteryConfig(trials=3, train=TrainConfig(seed=SEED_MAX - 2)).trials == 3
    with pytest.raises(ConfigError, match=r"^--trials=4 is not allowed; trial t trains with --seed \+ t"):
        LotteryConfig(trials=4, train=TrainConfig(seed=SEED_MAX - 2))


# ---- memory ---------------------------------------------------------------------------------

@pytest.fixture
def sixteen_gib(monkeypatch):
    monkeypatch.setattr(cfg, "memory_bytes", lambda: 16 * GIB)


def test_check_memory_names_the_settings_of_the_largest_need(sixteen_gib):
    cfg.check_memory([("a", 6 * GIB, ("x",)), ("b", 9 * GIB, ("y", "z"))], str)
    with pytest.raises(ConfigError, match=r"^y z is not allowed: b would need about 10\.0 GiB of memory "
                                          r"\(17\.0 GiB in all\), more than this machine's 16\.0 GiB"):
        cfg.check_memory([("a", 7 * GIB, ("x",)), ("b", 10 * GIB, ("y", "z"))], str)


def test_the_flatness_report_refuses_a_landscape_no_memory_holds(sixteen_gib):
    from tfrobust.flatness.study import MeasureConfig

    MeasureConfig(landscape_points=1001)
    with pytest.raises(ConfigError, match=r"^--landscape_points=1000000 is not allowed: the 2-D slice's losses"):
        MeasureConfig(landscape_points=10 ** 6)


@pytest.mark.parametrize("settings, named", [
    (dict(inner_batch=10 ** 9), "--inner_batch=1000000000"),
    (dict(noise_dim=10 ** 9), "--noise_dim=1000000000"),
    (dict(generator_hidden=10 ** 7), "--generator_hidden=10000000"),
    (dict(learner="conv:width=100000000"), "--learner=conv:width=100000000"),
    (dict(learner="mlp:width=100000,layers=3"), "--learner=mlp:width=100000,layers=3"),
    (dict(learner="conv:width=32,layers=2147483647"), "--learner=conv:width=32,layers=2147483647"),
])
def test_a_gtn_refuses_sizes_no_memory_holds(sixteen_gib, settings, named):
    from tfrobust.gtn.config import GTNConfig

    GTNConfig().check_fits((28, 28, 1), 10)  # the paper's sizes fit
    config = GTNConfig(**settings)  # within the bounds of their kinds
    with pytest.raises(ConfigError, match=rf"{named}.* is not allowed: .* would need about [\d,.]+ GiB of memory"):
        config.check_fits((28, 28, 1), 10)


def test_gtn_robustness_refuses_learners_and_shuffles_no_memory_holds(sixteen_gib):
    from tfrobust.gtn.robustness import RobustnessConfig

    splits = type("Splits", (), dict(input_shape=(28, 28, 1), num_classes=10, train_size=50000))()
    RobustnessConfig().check_fits(splits, 128)
    with pytest.raises(ConfigError, match=r"^--vanilla_epochs=1000000 is not allowed: the vanilla learners' shuffles"):
        RobustnessConfig(vanilla_epochs=10 ** 6).check_fits(splits, 128)
    with pytest.raises(ConfigError, match=r"^--learners=mlp:width=10000000 --vanilla_batch=128 is not allowed"):
        RobustnessConfig(learners="mlp:width=10000000").check_fits(splits, 128)


def test_a_learner_wider_than_a_size_is_refused():
    from tfrobust.gtn.learners import make_learner

    assert make_learner(f"mlp:width={SIZE_MAX}").width == SIZE_MAX
    with pytest.raises(ConfigError, match=r"width=2147483648 must be an integer >= 1 \(at most 2147483647\)"):
        make_learner(f"mlp:width={SIZE_MAX + 1}")


def test_gengap_refuses_sizes_no_memory_holds(sixteen_gib):
    from tfrobust.theory import gengap
    from tfrobust.theory.config import GapConfig

    small = GapConfig(setting="gaussian_regression", eps=(0.1,), n=(1, 10, 100))
    gengap.check_fits(small, gengap.SETTINGS.get(small.setting).variants(small))
    big = GapConfig(setting="gaussian_regression", eps=(0.1,), n=tuple(range(1, 100_001)))
    with pytest.raises(ConfigError, match=r"^n=\[1\.\.100000\] \(100000 sizes\) eps \(1 values\) dim=1 is not allowed"):
        gengap.check_fits(big, gengap.SETTINGS.get(big.setting).variants(big))
    with pytest.raises(ConfigError, match=r"^dim=100000000 is not allowed: the data model's vectors"):
        GapConfig(setting="gaussian", eps=(0.1,), n=(1,), dim=10 ** 8)
