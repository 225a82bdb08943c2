"""runs.gengap as a user runs it: files, printed regimes, one-line errors, no partial output."""
import csv
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "runs.gengap", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_quick_flagfile_writes_every_file_and_states_each_regime(tmp_path):
    out = str(tmp_path / "g")
    proc = run("--flagfile=flags/gengap_gaussian_quick.cfg", "--eps=0,0.5,2", "--exact_horizon=500",
               f"--output_dir={out}", "--quiet")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[1].startswith("eps=0.5: the gap increases then decreases; it peaks at n=14 (gap 0.1159")
    assert lines[2].startswith("eps=2: the gap keeps increasing")
    assert sorted(os.listdir(out)) == sorted(f"gaussian_{f}" for f in (
        "curves.csv", "shapes.csv", "run.json", "loss.png", "gap.png", "summary.md"))
    rows = list(csv.DictReader(open(os.path.join(out, "gaussian_curves.csv"))))
    assert len(rows) == 3 * 20 and {r["reps"] for r in rows} == {"2000"}
    record = json.load(open(os.path.join(out, "gaussian_run.json")))
    assert record["config"]["eps"] == [0.0, 0.5, 2.0] and record["seconds_total"] > 0
    summary = open(os.path.join(out, "gaussian_summary.md")).read()
    assert "eps=0.5: the gap increases then decreases" in summary


@pytest.mark.parametrize("args,message", [
    (["--setting=logistic"], "error: --setting=logistic is not allowed; allowed: gaussian, bernoulli"),
    (["--setting=gaussian", "--eps=0.1,-0.5"], "error: --eps=-0.5 is not allowed: allowed range is [0.0, inf]"),
    (["--setting=gaussian", "--reps=0"], "error: --reps=0 is not allowed: allowed values are integers >= 1"),
    (["--setting=gaussian_regression", "--tau=0.3"], "error: --tau does not apply to --setting=gaussian_regression"),
    (["--setting=bernoulli", "--n=1,x"], "error: --n=1,x: 'x' is not an integer"),
    (["--setting=bernoulli", "--mu=2"], "error: --mu does not apply to --setting=bernoulli; it applies to: gaussian"),
    (["--setting=bernoulli", "--tau="], "error: --tau=[] is not allowed for setting='bernoulli'"),
    (["--setting=gaussian", "--n=1,2", "--n_max=3"], "error: --n and --n_max are both given"),
])
def test_bad_flags_fail_in_one_line_without_output(tmp_path, args, message):
    out = str(tmp_path / "never")
    proc = run(*args, f"--output_dir={out}")
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert not os.path.exists(out)


def test_every_config_field_is_a_flag_with_its_help_text():
    import dataclasses

    from tfrobust.theory.config import GapConfig

    proc = run("--help")  # absl prints the help and exits with 1
    text = " ".join(proc.stdout.split())  # undo the help's line wrapping
    for f in dataclasses.fields(GapConfig):
        assert f.metadata.get("help"), f.name
        assert f"--{f.name}: {f.metadata['help']}" in text, f.name
    assert "--n_max:" in text and "--output_dir:" in text
