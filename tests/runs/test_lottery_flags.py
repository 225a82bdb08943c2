"""runs.lottery maps the document's flags onto tfrobust's configs (in process: no training)."""
import pytest
from absl import flags

from tfrobust.errors import ConfigError

from runs import lottery  # defines its flags on absl's FLAGS; no other test imports a runs module


@pytest.fixture
def parse():
    def parse_args(*args):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["runs.lottery", *args])
        return lottery.config_from_flags()

    yield parse_args
    flags.FLAGS.unparse_flags()


def test_document_defaults(parse):
    c = parse()
    assert (c.reset, c.trials, c.prune_iters, c.prune_rate, c.output_prune_rate) == ("reinit_orig", 10, 20, 0.2, 0.1)
    t = c.train
    assert (t.dataset, t.model, t.train_iters, t.eval_every, t.batch_size, t.valid_size) == (
        "mnist", "dense-300-100", 50000, 500, 60, 10000)
    assert (t.objective, t.attack, t.learning_rate, t.optimizer, t.label_smoothing) == (
        "natural", "fgsm:eps=0.3", 0.0012, "adam", 0.0)
    assert (t.strategy, t.devices, c.orig_reset_source) == ("default", (), "init")


def test_document_names_map_onto_tfrobust(parse):
    c = parse("--dataset=fashion", "--attack=pgd", "--adv_train", "--devices=0,1", "--experiment=reinit_rand")
    t = c.train
    assert t.dataset == "fashion_mnist" and t.objective == "mix"
    assert t.attack == "pgd:eps=0.3,step_size=0.05,steps=10"
    assert t.strategy == "mirrored" and t.devices == ("GPU:0", "GPU:1")
    assert c.reset == "reinit_rand" and t.experiment == "reinit_rand"


def test_objective_flags(parse):
    assert parse("--adv_train", "--adv_weight=1.0").train.objective == "madry"
    assert parse("--adv_train", "--adv_weight=0.3").train.objective == "mix:adv_weight=0.3"
    assert parse("--objective=trades:beta=3", "--attack=pgd").train.objective == "trades:beta=3"
    with pytest.raises(ConfigError, match="--objective=madry and --adv_train/--adv_weight both say"):
        parse("--adv_train", "--objective=madry")
    with pytest.raises(ConfigError, match="--adv_weight=0.3 needs --adv_train"):
        parse("--adv_weight=0.3")
    assert parse("--reset=reinit_none").reset == "reinit_none"  # --experiment is the document's alias


def test_reference_quirks_turn_on_all_three(parse):
    c = parse("--reference_quirks", "--attack=pgd", "--eval_attacks=fgsm")
    assert c.train.label_smoothing == 0.1 and c.orig_reset_source == "trained"
    assert c.train.predicted_labels and c.train.attack == "pgd:eps=0.3,step_size=0.05,steps=10"
    assert c.train.eval_attacks == ("fgsm:eps=0.3",)


def test_pruning_options(parse):
    c = parse("--global_prune_rate=0.3", "--skip_layers=output", "--layer_prune_rates=hidden_1=0.5")
    assert c.global_rate == 0.3 and c.skip_layers == ("output",) and c.layer_rate_overrides() == {"hidden_1": 0.5}
