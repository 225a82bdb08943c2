"""A training run's TensorBoard events: short tags, and the HParams summary (the config's fields,
the run id, the caller's study values, the final accuracies) read back through TensorBoard."""
import os

import pytest
from tiny_runs import tiny

from tfrobust.build import build
from tfrobust.experiment import RunDir
from tfrobust.hparams import read_summary
from tfrobust.training import Hook, Trainer

ATTACKS = ("pgd:eps=0.1,step_size=0.05,steps=2", "fgsm:eps=0.1")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    config = tiny(train_iters=6, eval_every=3, eval_attacks=ATTACKS, l1_reg=1e-5)
    run_dir = RunDir.for_config(str(tmp_path_factory.mktemp("tb")), config.experiment, config)
    results = Trainer(build(config), run_dir, hparams={"round": 2, "stage": "retrain"}).run()
    return config, results, read_summary(run_dir.tb_dir)


def test_tags_are_short_names_and_the_config_keeps_the_specs(run):
    config, results, summary = run
    tags = set(summary["scalars"])
    for split in ("valid", "test"):
        for name in ("natural", "pgd2_eps0.1", "fgsm_eps0.1"):
            assert {f"{split}/{name}/accuracy", f"{split}/{name}/loss"} <= tags
    assert not [t for t in tags if ":" in t or "=" in t or "," in t]
    assert summary["hparams"]["eval_attacks"] == " ".join(ATTACKS)  # the full specs
    assert set(results["final"]["test"]) == {"natural", *ATTACKS}


def test_the_hparams_summary_holds_the_config_the_run_and_the_final_accuracies(run):
    config, results, summary = run
    hp = summary["hparams"]
    for key, value in config.to_dict().items():
        if isinstance(value, (bool, str)):
            assert hp[key] == value, key
        elif isinstance(value, (int, float)):
            assert hp[key] == pytest.approx(value), key
    assert hp["run_id"] == results["id"] and hp["round"] == 2 and hp["stage"] == "retrain"
    final = results["final"]
    for split in ("valid", "test"):
        for name, tag in (("natural", "natural"), (ATTACKS[0], "pgd2_eps0.1"), (ATTACKS[1], "fgsm_eps0.1")):
            assert summary["scalars"][f"final/{split}/{tag}/accuracy"] == pytest.approx(final[split][name]["accuracy"])
    assert summary["scalars"]["final/weights_kept"] == pytest.approx(final["weights"]["total"]["fraction"])


def test_a_run_shows_in_the_dashboard_while_it_trains(tmp_path):
    class Look(Hook):
        def after_step(self, trainer, step):
            if step == 2:
                trainer.summary_while_training = read_summary(trainer.run_dir.tb_dir)

    config = tiny(train_iters=4, eval_every=4)
    trainer = Trainer(build(config), RunDir.for_config(str(tmp_path), config.experiment, config), hooks=[Look()])
    trainer.run()
    during = trainer.summary_while_training
    assert during["hparams"]["run_id"] == trainer.run_dir.id and not [t for t in during["scalars"] if t.startswith("final/")]


def test_a_run_resumed_at_its_end_still_writes_the_summary(tmp_path):
    config = tiny(train_iters=4, eval_every=4)
    run_dir = RunDir.for_config(str(tmp_path), config.experiment, config)
    Trainer(build(config), run_dir).run()
    os.remove(os.path.join(run_dir.path, "results.json"))  # killed after the last checkpoint
    for name in os.listdir(run_dir.tb_dir):
        os.remove(os.path.join(run_dir.tb_dir, name))
    results = Trainer(build(config), RunDir.for_config(str(tmp_path), config.experiment, config)).run()
    assert results["resumed_from"] == 4
    summary = read_summary(run_dir.tb_dir)
    assert summary["scalars"]["final/test/natural/accuracy"] == pytest.approx(results["final"]["test"]["natural"]["accuracy"])
