"""runs.lottery and runs.lottery_report as a user runs them: a 2-round search on a tiny dataset."""
import json
import os

import pytest

from clitools import DATASET, run


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("lottery"))
    proc = run("runs.lottery", DATASET, "--valid_size=100", "--trials=2", "--prune_iters=2", "--train_iters=20",
               "--eval_every=10", "--batch_size=30", "--attack=fgsm:eps=0.1", "--adv_train", "--predicted_labels",
               "--eval_attacks=fgsm:eps=0.1", "--eval_attacks=pgd:eps=0.1,steps=5", f"--base_dir={base}",
               "--log_every=10")
    assert proc.returncode == 0, proc.stderr
    (run_id,) = os.listdir(os.path.join(base, "reinit_orig"))
    return proc, base, os.path.join(base, "reinit_orig", run_id)


def test_two_rounds_write_tables_and_plots(search):
    proc, _, path = search
    for name in ("table.md", "table.csv", "accuracy_vs_weights.png", "curves.png", "early_stopping.png",
                 "results.json", "config.json"):
        assert os.path.getsize(os.path.join(path, name)) > 0, name
    table = open(os.path.join(path, "table.md")).read().splitlines()
    assert len(table) == 2 + 2  # header, rule, two levels of remaining weights
    assert "| remaining (%) |" in table[0] and "test pgd:predicted_labels=true,eps=0.1,steps=5" in table[0]
    assert "| 100.00 | 2 |" in table[2] and "| 80.16 | 2 |" in table[3] and " ± " in table[2]
    csv = open(os.path.join(path, "table.csv")).read().splitlines()
    assert "test natural mean" in csv[0] and len(csv) == 3
    assert "[trial 2/2 round 2/2] done: 80.2% of weights remain" in proc.stdout
    config = json.load(open(os.path.join(path, "config.json")))
    assert config["train"]["attack"] == "fgsm:eps=0.1" and config["train"]["predicted_labels"]
    assert config["train"]["objective"] == "mix"
    assert sorted(os.listdir(os.path.join(path, "trial_1"))) == ["rewind.npz", "round_00", "round_01"]


def test_rerun_returns_the_finished_search(search):
    _, base, path = search
    proc = run("runs.lottery", DATASET, "--valid_size=100", "--trials=2", "--prune_iters=2", "--train_iters=20",
               "--eval_every=10", "--batch_size=30", "--attack=fgsm:eps=0.1", "--adv_train", "--predicted_labels",
               "--eval_attacks=fgsm:eps=0.1", "--eval_attacks=pgd:eps=0.1,steps=5", f"--base_dir={base}")
    assert proc.returncode == 0, proc.stderr
    assert "is finished; returning its results" in proc.stdout and "training in" not in proc.stdout


def test_report_compares_the_runs_of_a_base_dir(search, tmp_path):
    _, base, _ = search
    proc = run("runs.lottery_report", f"--base_dir={base}", f"--output_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert "1 lottery runs" in proc.stdout and "reinit_orig, fgsm:eps=0.1 adversarial training" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["accuracy_vs_weights.png", "curves.png", "early_stopping.png",
                                            "table.csv", "table.md"]


def test_export_plain_writes_a_model_without_masked_layers(search, tmp_path):
    _, _, path = search
    out = str(tmp_path / "plain.keras")
    proc = run("runs.export_plain", f"--model_path={path}/trial_0/round_01/model.keras", f"--output={out}")
    assert proc.returncode == 0, proc.stderr
    assert "hidden_1: 80.00% of weights remain" in proc.stdout and "output: 90.00% of weights remain" in proc.stdout
    import tf_keras as keras

    model = keras.models.load_model(out)  # no tfrobust layer needed
    assert {type(layer).__name__ for layer in model.layers} == {"InputLayer", "Flatten", "Dense"}


def test_a_job_array_of_trials_merges_into_one_search(tmp_path):
    args = [DATASET, "--valid_size=100", "--trials=2", "--prune_iters=2", "--train_iters=10", "--eval_every=10",
            "--batch_size=30", "--attack=fgsm:eps=0.1", "--adv_train", f"--base_dir={tmp_path}", "--quiet"]
    second = run("runs.lottery", *args, "--trial=1")
    assert second.returncode == 0, second.stderr
    (run_id,) = os.listdir(tmp_path / "reinit_orig")
    root = tmp_path / "reinit_orig" / run_id
    assert not (root / "results.json").exists() and not (root / "trial_0").exists()
    report = run("runs.lottery_report", f"--base_dir={tmp_path}", f"--output_dir={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr
    assert "(1 of 2 trials finished)" in report.stdout and "| 1 |" in report.stdout
    first = run("runs.lottery", *args, "--trial=0")
    assert first.returncode == 0, first.stderr
    results = json.load(open(root / "results.json"))
    assert [(r["trial"], r["round"]) for r in results["rounds"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert "partial" not in results
