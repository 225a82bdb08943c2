"""Run ids: pinned, blind to new fields at their defaults, and runs made before this scheme are found."""
import dataclasses
import json
import os

import pytest

from tfrobust.config import field, legacy_run_id, run_id
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.pruning import LotteryConfig
from tfrobust.training import TrainConfig, train

DATA = "synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"


def test_pinned_ids():
    """A change that moves these ids strands every existing run directory: it must be deliberate."""
    assert run_id(TrainConfig()) == "44136fa355b3"
    assert run_id(TrainConfig(objective="madry", attack="pgd:eps=0.1,step_size=0.01,steps=40", seed=3)) == "2b2b4c52ca73"
    assert run_id(LotteryConfig()) == "44136fa355b3"  # nothing changed: the same empty hash
    assert run_id(LotteryConfig(reset="reinit_rand", train=TrainConfig(train_iters=50000))) == "b1ba6132ffd8"


def test_only_changed_fields_count_and_nested_configs_count_their_own():
    assert TrainConfig().changes() == {}
    assert TrainConfig(seed=2, eval_attacks=("fgsm",)).changes() == {"seed": 2, "eval_attacks": ["fgsm"]}
    assert LotteryConfig(trials=2, train=TrainConfig(seed=1)).changes() == {"trials": 2, "train": {"seed": 1}}
    assert run_id(TrainConfig(seed=1)) != run_id(TrainConfig(seed=2))
    assert run_id(TrainConfig(eval_attacks=[])) == run_id(TrainConfig())  # a list where a tuple is expected
    assert run_id(TrainConfig(l1_reg=2)) == run_id(TrainConfig(l1_reg=2.0))


def test_a_new_field_at_its_default_moves_no_id():
    @dataclasses.dataclass(frozen=True)
    class WithRho(TrainConfig):
        admm_rho: float = field(1.5e-3, "A field added in a later version.")

    assert run_id(WithRho(seed=1, objective="madry")) == run_id(TrainConfig(seed=1, objective="madry"))
    assert run_id(WithRho(admm_rho=0.1)) != run_id(TrainConfig())


def test_configs_round_trip_through_their_dicts():
    config = LotteryConfig(reset="reinit_none", skip_layers=("output",),
                           train=TrainConfig(eval_attacks=("fgsm", "pgd"), lr_boundaries=(5,), lr_factors=(0.1,),
                                             schedule="piecewise"))
    assert LotteryConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(ConfigError, match="unknown TrainConfig settings: stepsize"):
        TrainConfig.from_dict({"stepsize": 3})


def test_legacy_dicts_migrate():
    old_train = {"step": "adversarial", "adv_weight": 1.0, "attack": "pgd:eps=0.1,predicted_labels=true",
                 "eval_attacks": ["fgsm:predicted_labels=true,eps=0.1"]}
    t = TrainConfig.from_dict(old_train)
    assert (t.objective, t.attack, t.eval_attacks, t.predicted_labels) == ("madry", "pgd:eps=0.1", ("fgsm:eps=0.1",), True)
    assert TrainConfig.from_dict({"step": "adversarial", "adv_weight": 0.3}).objective == "mix:adv_weight=0.3"
    assert TrainConfig.from_dict({"step": "natural", "adv_weight": 0.5}).objective == "natural"
    one_spec = TrainConfig.from_dict({"step": "adversarial", "attack": "pgd:predicted_labels=true",
                                      "eval_attacks": ["fgsm"]})  # not every spec: left as written
    assert (one_spec.attack, one_spec.eval_attacks, one_spec.predicted_labels) == ("pgd:predicted_labels=true", ("fgsm",), False)
    current = TrainConfig(attack="pgd:eps=0.1,predicted_labels=true")  # a spec option today: not migrated
    assert TrainConfig.from_dict(current.to_dict()) == current
    lottery = LotteryConfig.from_dict({"experiment": "reinit_rand", "train": {"step": "adversarial", "adv_weight": 0.5}})
    assert lottery.reset == "reinit_rand" and lottery.train.objective == "mix"


def test_a_run_made_when_the_eval_batch_defaulted_to_500_keeps_its_directory(tmp_path):
    old = {**TrainConfig().to_dict(), "eval_batch_size": 500}
    del old["compact_eval"]  # written before the field existed
    assert TrainConfig.from_dict(old) == TrainConfig()  # its id never held the old default
    chosen = {**TrainConfig().to_dict(), "eval_batch_size": 500}  # today's 500 is a choice: kept
    assert TrainConfig.from_dict(chosen).eval_batch_size == 500
    path = tmp_path / "train" / run_id(TrainConfig())
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(old))
    RunDir.for_config(str(tmp_path), "train", TrainConfig()).prepare()  # no "holds a different config"


def legacy_dict(config: TrainConfig) -> dict:
    """config.json as tfrobust wrote it before objectives and default-free ids."""
    d = config.to_dict()
    objective = d.pop("objective")
    d.pop("predicted_labels")
    d["step"], d["adv_weight"] = ("natural", 0.5) if objective == "natural" else ("adversarial", 1.0)
    return d


def test_a_run_made_before_the_new_ids_is_found_not_retrained(tmp_path):
    config = TrainConfig(dataset=DATA, valid_size=100, batch_size=20, train_iters=20, eval_every=20,
                         objective="madry", attack="fgsm:eps=0.1")
    old = legacy_dict(config)
    old_path = tmp_path / "train" / legacy_run_id(old)
    old_path.mkdir(parents=True)
    (old_path / "config.json").write_text(json.dumps(old))
    (old_path / "results.json").write_text(json.dumps({"final": {"step": 20, "made": "long ago"}}))
    lines = []
    results = train(config, str(tmp_path), progress=lines.append)
    assert results["final"]["made"] == "long ago"  # returned, not retrained
    new_path = tmp_path / "train" / run_id(config)
    assert new_path.is_dir() and not old_path.exists()
    assert any("moved" in line and str(new_path) in line for line in lines)
    RunDir(str(new_path), config).prepare()  # the old config.json is accepted as this config


def test_a_different_config_in_the_directory_is_refused(tmp_path):
    config = TrainConfig(seed=4)
    run_dir = RunDir.for_config(str(tmp_path), "train", config)
    os.makedirs(run_dir.path)
    with open(run_dir.config_path, "w") as f:
        json.dump(TrainConfig(seed=5).to_dict(), f)
    with pytest.raises(ConfigError, match="holds a different config"):
        run_dir.prepare()
