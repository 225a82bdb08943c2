"""The command lines, run as a user would: real processes, real files, real exit codes."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASET = "--dataset=synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"


def run(module, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cli") / "model.keras")
    proc = run("runs.train", "--model=dense-300-100", DATASET, "--train_iters=150", "--batch_size=30",
               f"--output={path}", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert os.path.exists(path) and not os.path.exists(path.replace(".keras", ".tmp.keras"))
    return path


def test_attack_cli_writes_results_table_and_plot(saved_model, tmp_path):
    out = str(tmp_path / "eval")
    proc = run("runs.attack", f"--model_path={saved_model}", DATASET, "--attacks=fgsm:eps=0.15",
               "--attacks=pgd:eps=0.15,step_size=0.02,steps=10", f"--output_dir={out}", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0] == "| evaluation | accuracy | loss | examples |" and len(lines) == 5
    record = json.load(open(os.path.join(out, "results.json")))
    res = record["results"]
    assert res["natural"]["examples"] == 100
    assert res["natural"]["accuracy"] > 0.5
    for name in ("fgsm:eps=0.15", "pgd:eps=0.15,step_size=0.02,steps=10"):
        assert res[name]["accuracy"] < res["natural"]["accuracy"] - 0.1
    assert sorted(os.listdir(out)) == ["accuracy.png", "results.json", "table.csv", "table.md"]


@pytest.mark.parametrize("args,message", [
    (["--attacks=pgd:eps=-0.3"], "error: --attacks=pgd:eps=-0.3: attack 'pgd': eps=-0.3 is not allowed"),
    (["--attacks=cw"], "unknown attack 'cw'; known: fgsm, gaussian_blur"),
    (["--dataset=imagenet"], "unknown dataset 'imagenet'; known: cifar10, fashion_mnist, mnist, synthetic"),
])
def test_attack_cli_rejects_bad_input_in_one_line(saved_model, tmp_path, args, message):
    out = str(tmp_path / "never")
    proc = run("runs.attack", f"--model_path={saved_model}", DATASET, *args, f"--output_dir={out}")
    assert proc.returncode == 2
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(out)


def test_missing_model_and_bad_flags_fail(tmp_path):
    proc = run("runs.attack", f"--model_path={tmp_path}/nothing.keras", DATASET)
    assert proc.returncode == 2 and "no model file at" in proc.stderr
    proc = run("runs.train", "--model=lenet:width=0", DATASET, f"--output={tmp_path}/m.keras")
    assert proc.returncode == 2 and "width must be a positive integer" in proc.stderr
    assert not os.path.exists(f"{tmp_path}/m.keras")
    proc = run("runs.train", "--batch_size=-1", f"--output={tmp_path}/m.keras")
    assert proc.returncode != 0 and "--batch_size" in proc.stderr and "Traceback" not in proc.stderr
