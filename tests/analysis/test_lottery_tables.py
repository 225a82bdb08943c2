"""analysis.lottery: mean ± std over trials per level, early stopping, and the graphs."""
import json
import os

import pytest

from tfrobust.analysis import lottery
from tfrobust.errors import DataError


def record(trial, rnd, remaining, natural, adv, early_step):
    point = {"natural": {"accuracy": natural, "loss": 1.0}, "pgd": {"accuracy": adv, "loss": 2.0}}
    return {"trial": trial, "round": rnd, "remaining": remaining, "weights": {},
            "final": {"test": point}, "early_stop": {"step": early_step, "test": point},
            "curve": [{"step": 10, "test": point}, {"step": 20, "test": point}]}


def fake_run(experiment="reinit_orig", step="adversarial"):
    rounds = [record(0, 0, 1.0, 0.80, 0.30, 20), record(1, 0, 1.0, 0.90, 0.40, 10),
              record(0, 1, 0.5, 0.70, 0.20, 10), record(1, 1, 0.5, 0.70, 0.30, 10)]
    return {"kind": "lottery", "id": "x", "rounds": rounds,
            "config": {"experiment": experiment, "train": {"step": step, "attack": "pgd:eps=0.3,predicted_labels=true"}}}


def test_levels_average_over_trials_with_sample_std():
    rows = lottery.table_rows([fake_run()])
    assert [r["remaining (%)"] for r in rows] == [100.0, 50.0]
    assert rows[0]["test natural"] == "85.00 ± 7.07" and rows[0]["test pgd"] == "35.00 ± 7.07"
    assert rows[1]["test natural"] == "70.00 ± 0.00" and rows[0]["early-stop iteration"] == "15 ± 7"
    assert rows[0]["run"] == "reinit_orig, pgd:eps=0.3 adversarial training"
    numeric = lottery.table_rows([fake_run()], numeric=True)
    assert numeric[1]["test pgd mean"] == pytest.approx(25.0) and numeric[1]["test pgd std"] == pytest.approx(7.0711, abs=1e-4)


def test_report_from_a_base_directory(tmp_path):
    for exp, step in (("reinit_orig", "adversarial"), ("reinit_rand", "natural")):
        path = tmp_path / exp / "abc"
        path.mkdir(parents=True)
        (path / "results.json").write_text(json.dumps(fake_run(exp, step)))
    (tmp_path / "train" / "def").mkdir(parents=True)
    (tmp_path / "train" / "def" / "results.json").write_text(json.dumps({"final": {}}))  # not a lottery run
    runs = lottery.load_runs(str(tmp_path))
    assert [lottery.label(r) for r in runs] == ["reinit_orig, pgd:eps=0.3 adversarial training",
                                                "reinit_rand, normal training"]
    paths = lottery.write_report(runs, str(tmp_path / "report"))
    assert all(os.path.getsize(p) > 1000 for k, p in paths.items() if k.endswith("plot"))
    assert len(open(paths["markdown"]).read().splitlines()) == 2 + 4


def test_corrupt_results_are_named(tmp_path):
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(DataError, match=f"cannot read {tmp_path}/results.json"):
        lottery.load_runs(str(tmp_path))


def test_natural_comes_first_even_from_sorted_json(tmp_path):
    run = fake_run()
    for rec in run["rounds"]:
        rec["final"]["test"] = dict(sorted({**rec["final"]["test"], "fgsm": {"accuracy": 0.5, "loss": 1.0}}.items()))
        rec["early_stop"]["test"] = rec["final"]["test"]
    (tmp_path / "results.json").write_text(json.dumps(run, sort_keys=True))
    (loaded,) = lottery.load_runs(str(tmp_path))
    columns = list(lottery.table_rows([loaded])[0])
    assert columns[4:7] == ["test natural", "test fgsm", "test pgd"]


def test_a_lottery_record_without_its_keys_is_named(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"kind": "lottery", "id": "x"}))
    with pytest.raises(DataError, match="results.json is not a lottery record: config is missing: it was not written by runs.lottery"):
        lottery.load_runs(str(tmp_path))
