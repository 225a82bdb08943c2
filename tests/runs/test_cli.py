"""The command lines, run as a user would: real processes, real files, real exit codes. Bad input
to every command line is in the matrix of tests/runs/badinput.py."""
import json
import os

import pytest
from clitools import DATASET, run


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("cli"))
    proc = run("runs.train", "--model=dense-300-100", DATASET, "--valid_size=100", "--train_iters=150",
               "--eval_every=75", "--batch_size=30", "--attack=fgsm:eps=0.15", f"--base_dir={base}", "--quiet")
    assert proc.returncode == 0, proc.stderr
    (run_id,) = os.listdir(os.path.join(base, "train"))
    return proc, os.path.join(base, "train", run_id)


@pytest.fixture(scope="module")
def saved_model(trained_run):
    return os.path.join(trained_run[1], "model.keras")


def test_train_cli_writes_its_run_directory_and_prints_the_test_table(trained_run):
    proc, run_dir = trained_run
    assert sorted(os.listdir(run_dir)) == ["accuracy.png", "checkpoints", "config.json", "curves.png", "metrics.jsonl",
                                           "model.keras", "results.json", "table.csv", "table.md", "tb"]
    assert "| natural | " in proc.stdout and "| fgsm:eps=0.15 | " in proc.stdout
    assert f"tensorboard --logdir {run_dir}/tb" in proc.stdout
    assert "iter " not in proc.stdout  # --quiet


def test_train_cli_progress_lines(tmp_path):
    proc = run("runs.train", DATASET, "--valid_size=0", "--train_iters=20", "--eval_every=10", "--log_every=10",
               "--eval_examples=50", f"--base_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    progress = [l for l in proc.stdout.splitlines() if l.startswith("iter ")]
    assert progress[0].startswith("iter 10/20  loss ") and "| last eval: test acc: natural" in progress[1]


def test_attack_cli_writes_results_table_and_plot(saved_model, tmp_path):
    out = str(tmp_path / "eval")
    proc = run("runs.attack", f"--model_path={saved_model}", DATASET, "--attacks=fgsm:eps=0.15",
               "--attacks=pgd:eps=0.15,step_size=0.02,steps=10", f"--output_dir={out}", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "| evaluation | accuracy | loss | examples |" and len(lines) == 7
    # PGD-10 with steps of 0.02 cannot cross a ball of 0.15 well: the checks say it is weaker than FGSM
    assert lines[5] == "sanity checks on 100 examples: 1 warning(s)"
    assert lines[6].startswith("  warning: single_step (pgd:eps=0.15,step_size=0.02,steps=10): accuracy ")
    record = json.load(open(os.path.join(out, "results.json")))
    assert {c["check"] for c in record["checks"]["checks"]} >= {"logits", "zero_radius", "single_step"}
    res = record["results"]
    assert res["natural"]["examples"] == 100
    assert res["natural"]["accuracy"] > 0.5
    for name in ("fgsm:eps=0.15", "pgd:eps=0.15,step_size=0.02,steps=10"):
        assert res[name]["accuracy"] < res["natural"]["accuracy"] - 0.1
    assert sorted(os.listdir(out)) == ["accuracy.png", "results.json", "table.csv", "table.md"]


def test_attack_cli_runs_autoattack_and_writes_a_robustbench_record(saved_model, tmp_path):
    out = str(tmp_path / "aa")
    spec = "autoattack:eps=0.15,version=custom,attacks=apgd-ce+apgd-t"
    proc = run("runs.attack", f"--model_path={saved_model}", DATASET, f"--attacks={spec}", "--max_examples=60",
               "--check_examples=30", f"--output_dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert f"{spec}, batch 1, apgd-ce: " in proc.stdout and f"{spec}, batch 1, apgd-t: " in proc.stdout
    assert "| evaluation | stage | accuracy | seconds | forward | backward |" in proc.stdout
    assert sorted(os.listdir(out)) == ["accuracy.png", "results.json", "robustbench.json", "stages.md",
                                       "table.csv", "table.md"]
    record = json.load(open(os.path.join(out, "robustbench.json")))
    (aa,) = record["evaluations"]
    assert record["n_examples"] == 60 and (aa["eps"], aa["norm"], aa["version"]) == (0.15, "linf", "custom")
    assert [s["stage"] for s in aa["stages"]] == ["apgd-ce", "apgd-t"]
    assert aa["robust_acc"] == aa["stages"][-1]["accuracy"] <= aa["stages"][0]["accuracy"] <= record["clean_acc"]
    assert aa["forward_passes"] > aa["backward_passes"] > 0
    checks = json.load(open(os.path.join(out, "results.json")))["checks"]
    assert checks["examples"] == 30
    assert any(c["attack"].startswith(spec + ", probed by apgd") for c in checks["checks"])
