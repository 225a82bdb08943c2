"""A damaged run directory gets one clear error naming the file and what to do, never a traceback
from deep inside json or TensorFlow; an unreadable checkpoint state restarts the run cleanly."""
import glob
import os
import re

import pytest

from tfrobust.errors import DataError
from tfrobust.training import TrainConfig, train

DATA = "synthetic:image_shape=10x10x1,train_size=300,test_size=60,noise_std=0.6"
CONFIG = TrainConfig(dataset=DATA, valid_size=60, batch_size=20, train_iters=20, eval_every=10,
                     objective="mix", attack="fgsm:eps=0.1")


@pytest.fixture
def finished(tmp_path):
    results = train(CONFIG, str(tmp_path))
    return str(tmp_path), os.path.join(str(tmp_path), "train", results["id"]), results


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@pytest.mark.parametrize("name,text,unfinish,fault", [
    ("config.json", "{not json", True, "config.json is not valid JSON"),
    ("config.json", "[1, 2]", True, "config.json does not hold a TrainConfig"),
    ("metrics.jsonl", '{"step": 10}\n<garbage>\n', True, "metrics.jsonl line 2 is not a metrics record"),
    ("results.json", "{not json", False, "results.json is not valid JSON"),
    ("results.json", '{"something": "else"}', False, "results.json is not a results record"),
])
def test_a_damaged_file_is_named_with_what_to_do(finished, name, text, unfinish, fault):
    base, path, _ = finished
    if unfinish:
        os.remove(os.path.join(path, "results.json"))
    write(os.path.join(path, name), text)
    with pytest.raises(DataError, match=f"{fault}.*the run directory is damaged; move .* away, or rerun with --force"):
        train(CONFIG, base)


def test_a_damaged_checkpoint_is_named(finished):
    base, path, _ = finished
    os.remove(os.path.join(path, "results.json"))
    for data in glob.glob(os.path.join(path, "checkpoints", "ckpt-20.data-*")):
        write(data, "garbage")
    with pytest.raises(DataError, match="ckpt-20 cannot be restored .*--force"):
        train(CONFIG, base)


def test_an_unreadable_checkpoint_state_restarts_from_zero_and_says_so(finished):
    base, path, first = finished
    os.remove(os.path.join(path, "results.json"))
    write(os.path.join(path, "checkpoints", "checkpoint"), "garbage state")
    lines = []
    again = train(CONFIG, base, progress=lines.append)
    assert any("names no readable checkpoint; starting from iteration 0" in l for l in lines)
    assert again["resumed_from"] == 0 and again["final"] == first["final"]


# ---- every record kind: a missing key, a wrong type, a wrong nested type names the file and field --
def damage(record, path, value):
    """``record`` with the field at ``path`` (a tuple of keys and indices) set to ``value``, or
    removed where ``value`` is ``...``."""
    import json

    record = json.loads(json.dumps(record))  # no shared parts: only the one field changes
    *parents, last = path
    target = record
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return record


@pytest.mark.parametrize("path,value,fault", [
    (("final",), ..., "final is missing"),
    (("final", "step"), "20", "final.step is '20' (a string); it must be an integer"),
    (("final", "test", "natural", "accuracy"), [0.5], "final.test.natural.accuracy is [0.5] (a list); it must be a number"),
    (("snapshots",), {"step": 10}, "snapshots is {'step': 10} (an object); it must be a list"),
])
def test_a_damaged_results_record_names_the_field(finished, path, value, fault):
    import json

    base, run, _ = finished
    results_path = os.path.join(run, "results.json")
    with open(results_path) as f:
        record = json.load(f)
    write(results_path, json.dumps(damage(record, path, value)))
    with pytest.raises(DataError, match=re.escape(f"results.json is not a results record ({fault}): the run directory is damaged")):
        train(CONFIG, base)


METRICS = {"step": 4, "test": {"natural": {"accuracy": 0.5}, "pgd": {"accuracy": 0.25}},
           "weights": {"total": {"total": 10, "remaining": 5, "fraction": 0.5}}}
LOTTERY = {"kind": "lottery", "config": {}, "rounds": [
    {"trial": 0, "round": 0, "remaining": 1.0, "final": METRICS, "early_stop": {"step": 2, "test": METRICS["test"]}}]}
ADMM = {"kind": "admm", "final": METRICS, "ratios": {"fc": 0.5}, "compression": 2.0,
        "layers": {"fc": {"total": 10, "remaining": 5}}, "stages": {"retrain": {"path": "admm/x/retrain", "final": METRICS}},
        "residual_curve": [{"step": 2, "relative_residual": 0.1, "relative_residual_before": 0.2, "rho": 0.001}]}
ATMC = {"kind": "atmc", "method": "ap", "keep": 0.1, "final": METRICS, "dense": {"path": "dense/x", "export": {}},
        "models": [{"label": "AP", "stage": "finetune", "path": "atmc/x/finetune", "final": METRICS, "export": {},
                    "size": {"kept": 5, "bits": 32, "dense_weights": 10, "ratio": 0.5}}]}


@pytest.mark.parametrize("kind,record,path,value,fault", [
    ("LOTTERY", LOTTERY, ("rounds",), ..., "rounds is missing"),
    ("LOTTERY", LOTTERY, ("rounds",), {}, "rounds is {} (an object); it must be a list"),
    ("LOTTERY", LOTTERY, ("rounds", 0, "early_stop", "step"), 2.5, "rounds[0].early_stop.step is 2.5 (a number); it must be an integer"),
    ("ADMM", ADMM, ("stages", "retrain", "path"), ..., "stages.retrain.path is missing"),
    ("ADMM", ADMM, ("compression",), "2x", "compression is '2x' (a string); it must be a number"),
    ("ADMM", ADMM, ("residual_curve", 0, "rho"), None, "residual_curve[0].rho is None (null); it must be a number"),
    ("ATMC", ATMC, ("models", 0, "size"), ..., "models[0].size is missing"),
    ("ATMC", ATMC, ("models",), "AP", "models is 'AP' (a string); it must be a list"),
    ("ATMC", ATMC, ("models", 0, "size", "bits"), True, "models[0].size.bits is True (true or false); it must be an integer"),
])
def test_a_damaged_pipeline_record_names_the_field(tmp_path, kind, record, path, value, fault):
    from tfrobust import records
    from tfrobust.experiment import RunDir

    run = RunDir(str(tmp_path), None)
    run.write_results(record)
    assert run.read_results(getattr(records, kind)) == record  # the intact record is read as it is
    run.write_results(damage(record, path, value))
    with pytest.raises(DataError, match=re.escape(f"results.json is not a results record ({fault}): the run directory is damaged")):
        run.read_results(getattr(records, kind))
    if kind == "LOTTERY":  # the lottery report reads it too
        from tfrobust.analysis import lottery

        with pytest.raises(DataError, match=re.escape(f"results.json is not a lottery record: {fault}: it was not written by")):
            lottery.load_runs(str(tmp_path))


def zoo_record():
    return {"kind": "flatness_zoo", "template": {"dataset": "synthetic:image_shape=10x10x1,train_size=100,test_size=50"},
            "variants": ["at"], "runs": [{"variant": "at", "path": "at/x", "final": {"step": 6}, "best": {"step": 3},
                                          "snapshots": [{"path": "snapshots/step_000003.keras", "step": 3}]}]}


@pytest.mark.parametrize("path,value,fault", [
    (("runs", 0, "variant"), ..., "runs[0].variant is missing"),
    (("runs",), {"at": {}}, "runs is {'at': {}} (an object); it must be a list"),
    (("runs", 0, "snapshots", 0, "step"), "3", "runs[0].snapshots[0].step is '3' (a string); it must be an integer"),
    (("runs", 0, "final", "step"), None, "runs[0].final.step is None (null); it must be an integer"),
])
def test_a_damaged_zoo_record_names_the_field(tmp_path, path, value, fault):
    import json

    from tfrobust.flatness.study import FlatnessStudy, MeasureConfig

    (tmp_path / "zoo.json").write_text(json.dumps(damage(zoo_record(), path, value)))
    with pytest.raises(DataError, match=re.escape(f"zoo.json is not a zoo record: {fault}; rerun tfrobust-flatness")):
        FlatnessStudy(MeasureConfig(), str(tmp_path))


def measurement():
    values = dict.fromkeys(("clean_error", "pgd_error", "rloss_test", "rloss_train", "rloss_gap", "avg_flatness",
                            "avg_flatness_clean", "worst_flatness", "worst_flatness_clean"), 0.5)
    return {"variant": "at", "path": "at/x", "step": 3, "final": False, "best_step": 3, **values,
            "seconds": {"one_rloss": 1.0}}


@pytest.mark.parametrize("path,value,fault", [
    (("rloss_gap",), ..., "is not a measurement: rloss_gap is missing"),
    (("seconds",), 1.0, "is not a measurement: seconds is 1.0 (a number); it must be an object"),
    (("seconds", "one_rloss"), "1s", "is not a measurement: seconds.one_rloss is '1s' (a string); it must be a number"),
    (("step",), 6, "holds the measurement of at at iteration 6"),
])
def test_a_damaged_measurement_is_named_and_made_again(tmp_path, path, value, fault):
    """A kept measurement is derived data: a damaged one is measured again (the report says which
    file and field), never read into the tables."""
    import json

    from tfrobust.flatness.study import _read_cache

    cache, target = str(tmp_path / "step_000003.json"), {"variant": "at", "step": 3, "final": False}
    assert _read_cache(cache, target) == (None, None)  # none yet
    write(cache, json.dumps(measurement()))
    assert _read_cache(cache, target) == (measurement(), None)
    write(cache, json.dumps(damage(measurement(), path, value)))
    entry, problem = _read_cache(cache, target)
    assert entry is None and problem == fault, problem


def width_study():
    run = {"path": "pretrain/x", **METRICS}
    return {"kind": "admm_width_study", "attack": "pgd", "widths": [1, 2], "methods": ["admm"], "final_attacks": [],
            "final_examples": 0, "weights": {"1": 100, "2": 400},
            "baselines": {"natural": {"1": run, "2": run}, "adversarial": {"1": run, "2": run}},
            "pruned": {"admm": {"2->1": {"path": "admm/y", "compression": 4.0, "final": METRICS, "ratios": {"fc": 0.75}}}}}


def test_a_damaged_width_study_names_the_field(tmp_path):
    """runs.admm_report: the intact record gives the tables; each damaged one (a missing key, a
    wrong type, a wrong nested type, a result the tables read but the record lacks) is one error
    line naming study.json and the field, with nothing written."""
    import json
    import subprocess
    import sys

    from tfrobust import records
    from tfrobust.analysis import admm as report

    paths = report.write_study_report(records.check_width_study(width_study(), "study.json"), str(tmp_path / "good"))
    assert "| 2 |" in open(paths["markdown"]).read()
    cases = [(("pruned",), ..., "pruned is missing"),
             (("weights",), [100, 400], "weights is [100, 400] (a list); it must be an object"),
             (("pruned", "admm", "2->1", "final", "test", "pgd", "accuracy"), "high",
              "pruned.admm.2->1.final.test.pgd.accuracy is 'high' (a string); it must be a number"),
             (("baselines", "natural", "2", "test"), {"natural": {"accuracy": 0.5}}, "baselines.natural.2.test.pgd is missing")]
    dirs = []
    for i, (path, value, _) in enumerate(cases):
        dirs.append(tmp_path / f"study{i}")
        dirs[-1].mkdir()
        (dirs[-1] / "study.json").write_text(json.dumps(damage(width_study(), path, value)))
    script = ("import sys\nfrom absl import flags\nfrom runs import common, admm_report\n"
              "for d in sys.argv[1:]:\n    flags.FLAGS.unparse_flags()\n    try:\n"
              "        common.run(admm_report.main, argv=['admm_report', '--base_dir=' + d])\n"
              "    except SystemExit as e:\n        print('EXIT', e.code, file=sys.stderr)\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", script, *map(str, dirs)], cwd=root, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert proc.stderr.count("EXIT 2") == len(cases) and len(errors) == len(cases), proc.stderr[-3000:]
    for error, directory, (_, _, fault) in zip(errors, dirs, cases):
        assert f"{directory}/study.json is not a width study record: {fault}; rerun runs.admm_study" in error, error
        assert os.listdir(directory) == ["study.json"]


def test_a_damaged_final_evaluation_is_named_and_made_again(finished):
    """A kept final evaluation (final_<hash>.json) is derived data too: damaged, it is made again."""
    import json

    from tfrobust.build import build
    from tfrobust.pruning.admm_pipeline import final_evaluation, parse_final_attacks

    _, run, _ = finished
    attacks, setup = parse_final_attacks(["fgsm:eps=0.1"]), build(CONFIG)
    first = final_evaluation(run, attacks, 30, setup, 0)
    (path,) = glob.glob(os.path.join(run, "final_*.json"))
    for damaged, fault in [
            ({k: v for k, v in first.items() if k != "examples"}, "examples is missing"),
            ({**first, "results": []}, "results is [] (a list); it must be an object"),
            ({**first, "results": {**first["results"], "fgsm:eps=0.1": {"accuracy": "x"}}},
             "results.fgsm:eps=0.1.accuracy is 'x' (a string); it must be a number"),
            ({**first, "results": {"natural": first["results"]["natural"]}}, "results.fgsm:eps=0.1 is missing")]:
        write(path, json.dumps(damaged))
        lines = []
        assert final_evaluation(run, attacks, 30, setup, 0, lines.append) == first
        assert f"{path} is not a measurement: {fault}; evaluating again" in lines, lines
