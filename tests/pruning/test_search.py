"""The prune-ratio search: exact compression counts, the unreachable target, infeasible trials never
best (with a stand-in pipeline, many trials), the HParams record, and the command line for real:
one process, then keras-tuner's chief with two workers on localhost."""
import glob
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from tfrobust.errors import ConfigError
from tfrobust.pruning import search
from tfrobust.pruning.admm_config import AdmmConfig
from tfrobust.training import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TEMPLATE = AdmmConfig(prune_ratio=0.5, pretrain_iters=4, admm_iters=4, admm_every=2, retrain_iters=4,
                      train=TrainConfig(dataset=DATA, model="dense-300-100", valid_size=100, batch_size=20,
                                        eval_batch_size=100, eval_every=4, objective="madry", attack="fgsm:eps=0.1"))
UNITS = {"hidden_1": (30000, 1), "hidden_2": (30000, 1), "output": (1000, 1)}  # dense-300-100 on 10x10


def _model():
    from tfrobust import models

    return models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)


def test_layer_units_and_exact_compression():
    model = _model()
    assert search.layer_units(model, "irregular") == UNITS
    assert search.layer_units(model, "filter") == {"hidden_1": (300, 100), "hidden_2": (100, 300), "output": (10, 100)}
    assert search.layer_units(model, "column") == {"hidden_1": (100, 300), "hidden_2": (300, 100), "output": (100, 10)}
    ratios = {"hidden_1": 0.9, "hidden_2": 0.5}
    assert search.kept_weights(UNITS, ratios) == {"hidden_1": 3000, "hidden_2": 15000, "output": 1000}
    assert search.compression_of(UNITS, ratios) == 61000 / 19000
    assert search.compression_of(search.layer_units(model, "filter"), {"hidden_1": 0.5}) == 61000 / 46000


def test_an_unreachable_target_fails_before_anything_runs():
    assert search.check_target(UNITS, ["hidden_1", "hidden_2"], 16, 0.99) == pytest.approx(61000 / 1600)
    with pytest.raises(ConfigError, match=re.escape("--target_compression=50 cannot be reached: pruning hidden_1, "
                                                    "hidden_2 at --max_ratio=0.99 compresses 38.1x at most")):
        search.check_target(UNITS, ["hidden_1", "hidden_2"], 50, 0.99)
    for target, max_ratio, message in [(0.5, 0.99, "--target_compression=0.5"), (2, 1.0, "--max_ratio=1.0"),
                                       (float("nan"), 0.9, "--target_compression=nan")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            search.check_target(UNITS, ["hidden_1"], target, max_ratio)


def test_a_max_ratio_that_leaves_a_searched_layer_no_weight_fails_before_anything_runs():
    filters = search.layer_units(_model(), "filter")  # output: 10 filters; 0.99 of them rounds to all 10
    with pytest.raises(ConfigError, match=re.escape("--max_ratio=0.99 removes all 10 filters of output (sparsity "
                                                    "filter), leaving it no weight; output needs a ratio below 0.95")):
        search.check_target(filters, list(filters), 2, 0.99, sparsity="filter")
    assert search.check_target(filters, ["hidden_1", "hidden_2"], 2, 0.99, sparsity="filter") > 2


def test_the_uniform_ratio_meets_the_compression_exactly_enough():
    r = search.uniform_ratio(UNITS, list(UNITS), 16.0)
    assert search.compression_of(UNITS, {n: r for n in UNITS}) >= 16.0
    assert search.compression_of(UNITS, {n: r - 1e-4 for n in UNITS}) < 16.0


class _FakePipeline:
    """Stands in for AdmmPipeline: no training; robust accuracy is high for low ratios, so the best
    unconstrained trial would be infeasible."""

    def __init__(self, config, base_dir, **kwargs):
        self.config = config

    def run(self):
        ratios = dict(r.split(":") for r in self.config.prune_ratios)
        acc = 1.0 - float(np.mean([float(v) for v in ratios.values()]))
        final = {split: {"natural": {"accuracy": acc}, "fgsm:eps=0.1": {"accuracy": acc / 2}} for split in ("valid", "test")}
        return {"final": final, "id": "fake"}


@pytest.mark.parametrize("oracle", ["random", "bayesian", "hyperband"])
def test_the_tuner_never_reports_an_infeasible_trial_as_best(oracle, tmp_path, monkeypatch):
    import tfrobust.pruning.admm_pipeline as pipeline

    monkeypatch.setattr(pipeline, "AdmmPipeline", _FakePipeline)
    tuner = search.PruneRatioTuner(search.make_oracle(oracle, 12, seed=0), TEMPLATE, str(tmp_path), 3.0, UNITS,
                                   list(UNITS), max_ratio=0.95)
    tuner.search(verbose=0)
    trials = [t for t in tuner.oracle.trials.values() if t.metrics.exists("feasible")]
    feasible = [t for t in trials if t.metrics.get_last_value("feasible") == 1.0]
    infeasible = [t for t in trials if t.metrics.get_last_value("feasible") == 0.0]
    assert feasible and infeasible, "the test needs both kinds of trials"
    for t in infeasible:  # infeasible trials score below any accuracy and would beat feasible ones unconstrained
        assert t.metrics.get_last_value("compression") < 3.0
        assert t.metrics.get_last_value(search.OBJECTIVE) < 0
    best = search.best_feasible(tuner.oracle, n=len(trials))
    assert best and all(t.metrics.get_last_value("feasible") == 1.0 for t in best)
    assert tuner.oracle.get_best_trials(1)[0].metrics.get_last_value(search.OBJECTIVE) == \
        best[0].metrics.get_last_value(search.OBJECTIVE)
    assert all(search.compression_of(UNITS, tuner.ratios(t.hyperparameters)) >= 3.0 for t in best)


def test_no_feasible_trial_is_an_error_not_a_best_trial(tmp_path, monkeypatch):
    import tfrobust.pruning.admm_pipeline as pipeline

    monkeypatch.setattr(pipeline, "AdmmPipeline", _FakePipeline)
    target = search.check_target(UNITS, list(UNITS), 30.0, 0.99) * 0.999  # only ratios near the maximum reach it
    tuner = search.PruneRatioTuner(search.make_oracle("random", 4, seed=0), TEMPLATE, str(tmp_path), target, UNITS,
                                   list(UNITS), max_ratio=0.99)
    tuner.search(verbose=0)
    with pytest.raises(ConfigError, match="no trial reached the target compression"):
        search.best_feasible(tuner.oracle)


def test_each_trial_is_readable_in_the_hparams_dashboard(tmp_path):
    from tfrobust.hparams import read_summary, write_trial

    write_trial(str(tmp_path), "07", {"ratio/hidden_1": 0.9, "sparsity": "irregular"},
                {"robust_accuracy": 0.5, "compression": 4.0, "run": "abc"})
    summary = read_summary(str(tmp_path))
    assert summary["group"] == "07"
    assert summary["hparams"] == {"ratio/hidden_1": pytest.approx(0.9), "sparsity": "irregular", "run": "abc"}
    assert summary["scalars"] == {"robust_accuracy": 0.5, "compression": 4.0}


ARGS = ["--dataset=" + DATA, "--valid_size=100", "--batch_size=20", "--model=dense-300-100", "--attack=fgsm:eps=0.1",
        "--pretrain_iters=4", "--admm_iters=4", "--admm_every=2", "--retrain_iters=4", "--eval_every=4",
        "--target_compression=3", "--max_ratio=0.95", "--quiet"]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **extra)
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in extra:
            env.pop(name, None)
    return env


def test_the_command_writes_the_best_ratios_as_a_flagfile_runs_admm_takes(tmp_path):
    base = str(tmp_path / "tune")
    proc = subprocess.run([sys.executable, "-m", "runs.tune_prune", *ARGS, "--oracle=random", "--max_trials=4",
                           f"--base_dir={base}"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    flagfile = open(os.path.join(base, "best_ratios.cfg")).read().splitlines()
    assert flagfile[0].startswith("# runs.tune_prune: trial ") and flagfile[1].startswith("--prune_ratios=hidden_1:")
    ratios = dict(item.split(":") for item in flagfile[1].split("=", 1)[1].split(","))
    assert search.compression_of(UNITS, {k: float(v) for k, v in ratios.items()}) >= 3
    assert "| searched |" in proc.stdout and "| uniform " in proc.stdout  # the comparison
    assert glob.glob(os.path.join(base, "hparams", "trial_*", "events.out.tfevents.*"))
    again = subprocess.run([sys.executable, "-m", "runs.admm", *[a for a in ARGS if "compression" not in a and
                                                                 "max_ratio" not in a and a != "--quiet"],
                            f"--flagfile={os.path.join(base, 'best_ratios.cfg')}", f"--base_dir={base}"],
                           cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "is finished; returning its results" in again.stdout  # the flagfile names the best trial's own run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_chief_and_two_workers_search_together_on_localhost(tmp_path):
    """keras-tuner's distributed mode: the chief serves the oracle, and both workers run trials."""
    base, port = str(tmp_path / "dist"), str(_free_port())
    common = [sys.executable, "-m", "runs.tune_prune", *ARGS, "--oracle=random", "--max_trials=4",
              "--compare_uniform=false", f"--base_dir={base}"]
    procs = {}
    for tuner_id in ("chief", "worker0", "worker1"):
        env = _env(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=port, KERASTUNER_TUNER_ID=tuner_id)
        procs[tuner_id] = subprocess.Popen(common, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                           text=True)
    outputs = {k: p.communicate(timeout=600) for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, (k, outputs[k][1][-3000:])
    trials = glob.glob(os.path.join(base, "tuner", "prune_ratios", "trial_*", "trial.json"))
    assert len(trials) == 4
    assert os.path.exists(os.path.join(base, "best_ratios.cfg"))  # written by the chief
    ran = {k: re.findall(r"^worker \S+ ran trials: (.*)$", outputs[k][0], re.M) for k in ("worker0", "worker1")}
    assert all(ran[k] and ran[k][0].strip() for k in ran), ran  # both workers contributed
    counts = [len(ran[k][0].split(",")) for k in ran]
    assert sum(counts) == 4, ran


def test_without_the_tune_extra_the_search_says_what_to_install(monkeypatch):
    import importlib

    from tfrobust.errors import DependencyError

    monkeypatch.setitem(sys.modules, "keras_tuner", None)  # as if keras-tuner were not installed
    monkeypatch.delitem(sys.modules, "tfrobust.pruning.search")
    with pytest.raises(DependencyError, match=r"needs keras-tuner .*pip install 'tfrobust\[tune\]'"):
        importlib.import_module("tfrobust.pruning.search")
    monkeypatch.undo()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else True)
    with pytest.raises(DependencyError, match=r"bayesian oracle needs scikit-learn"):
        search.make_oracle("bayesian", 4, seed=0)
