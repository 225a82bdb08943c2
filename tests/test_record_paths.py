"""A path read from a record (zoo.json, results.json) must lie inside the directory that owns the
record: an absolute path or ``..`` cannot steer reads or writes into another run."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tfrobust.errors import DataError
from tfrobust.io import path_inside
from tfrobust.training import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TINY = dict(examples=40, rloss_attack="pgd:eps=0.1,step_size=0.05,steps=2", final_attack="fgsm:eps=0.1",
            final_examples=40, flatness_examples=40, avg_draws=2, worst_steps=2, worst_restarts=2, hessian_examples=0,
            landscape_variant="", curve_variants="at", batch_size=20)


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def test_path_inside_accepts_only_paths_that_resolve_inside_the_owner(tmp_path):
    owner, record = tmp_path / "zoo", "zoo/zoo.json"
    os.makedirs(owner / "at" / "1")
    os.symlink(tmp_path, owner / "link")
    assert path_inside(str(owner), "at/1", record) == os.path.join(str(owner), "at/1")
    assert path_inside(str(owner), "at/../at/1/model.keras", record)  # a detour that stays inside is fine
    for path in (str(tmp_path / "elsewhere"), "..", "../zoo2/at/1", "at/../../x", "link/x", str(owner) + "2", ""):
        with pytest.raises(DataError, match=r"zoo/zoo.json names the path"):
            path_inside(str(owner), path, record)
    with pytest.raises(DataError, match="must be a non-empty string"):
        path_inside(str(owner), ["at"], record)


def zoo_record(path):
    return {"kind": "flatness_zoo", "template": TrainConfig(dataset=DATA, model="dense-300-100", valid_size=100).to_dict(),
            "variants": ["at"], "runs": [{"variant": "at", "path": path, "final": {"step": 4}, "snapshots": []}]}


@pytest.fixture
def victim(tmp_path):
    """Another zoo's run directory, with a model the report could load and measure."""
    from tfrobust import models
    from tfrobust.saving import save_model

    run = tmp_path / "other" / "at" / "1"
    save_model(models.build_model("dense-300-100", (10, 10, 1), 10, seed=0), str(run / "model.keras"))
    return run


@pytest.mark.parametrize("how", ["absolute", "dotdot", "snapshot"])
def test_the_flatness_report_refuses_a_zoo_that_names_another_zoo(tmp_path, victim, how):
    from tfrobust.flatness.study import FlatnessStudy, MeasureConfig

    base = tmp_path / "zoo"
    os.makedirs(base / "at" / "1")
    record = zoo_record({"absolute": str(victim), "dotdot": "../other/at/1", "snapshot": "at/1"}[how])
    if how == "snapshot":
        record["runs"][0]["snapshots"] = [{"step": 2, "path": "../../../other/at/1/model.keras"}]
    (base / "zoo.json").write_text(json.dumps(record))
    before = files_under(tmp_path)
    with pytest.raises(DataError, match=r"zoo/zoo.json names the path .*, which lies outside .*zoo"):
        FlatnessStudy(MeasureConfig(**TINY), str(base)).run()
    assert files_under(tmp_path) == before  # no measurement written into the other zoo, no report


def test_admm_final_attack_refuses_a_stage_path_outside_its_base_dir(tmp_path):
    args = ["-m", "runs.admm", f"--dataset={DATA}", "--valid_size=100", "--model=dense-300-100", "--prune_ratio=0.5",
            "--pretrain_iters=2", "--admm_iters=2", "--admm_every=1", "--retrain_iters=2", "--eval_every=2",
            "--batch_size=20", "--attack=fgsm:eps=0.1", f"--base_dir={tmp_path / 'base'}", "--quiet"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    run = lambda *more: subprocess.run([sys.executable, *args, *more], cwd=ROOT, env=env, capture_output=True,  # noqa: E731
                                       text=True, timeout=600)
    first = run()
    assert first.returncode == 0, first.stderr[-2000:]
    (root,) = os.listdir(tmp_path / "base" / "admm")
    results_path = tmp_path / "base" / "admm" / root / "results.json"
    results = json.loads(results_path.read_text())
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "base" / "admm" / root / "retrain", elsewhere)  # a model the attack could evaluate
    for path in (str(elsewhere), "../elsewhere"):
        results["stages"]["retrain"]["path"] = path
        results_path.write_text(json.dumps(results))
        before = {f: os.path.getmtime(os.path.join(tmp_path, f)) for f in files_under(tmp_path)}
        refused = run("--final_attack=fgsm:eps=0.1", "--final_examples=20")
        errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
        assert len(errors) == 1 and f"{results_path} names the path {path!r}, which lies outside" in errors[0], errors
        assert {f: os.path.getmtime(os.path.join(tmp_path, f)) for f in files_under(tmp_path)} == before
