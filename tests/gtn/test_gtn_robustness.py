"""The robustness study: which learners it keeps, what it measures, and how it fails."""
import os
import shutil

import numpy as np
import pytest

from gtn_helpers import splits, tiny
from tfrobust.errors import ConfigError, DataError
from tfrobust.gtn import learning
from tfrobust.gtn.meta import MetaTraining
from tfrobust.gtn.robustness import MODES, RobustnessConfig, RobustnessStudy, load_gtn, resolve_gtn_dir

SMALL = dict(learners="linear mlp:width=8", seeds=2, threshold=0.0, noise_betas=(0.0, 0.5),
             blur_betas=(0.0, 1.0), ifgsm_betas=(0.0, 0.01), lbfgs_betas=(0.0, 100.0), ifgsm_steps=3, lbfgs_steps=3,
             corruption_examples=60, attack_examples=30, autoattack="autoattack:eps=0.05,version=custom,attacks=apgd-ce")


@pytest.fixture(scope="module")
def gtn_dir(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("gtn"))
    training = MetaTraining(tiny(outer_iters=4, inner_lr=0.5, outer_lr=0.05), splits(), base)
    training.run()
    return training.run_dir.path


def test_the_study_measures_every_mode_seed_and_beta(gtn_dir):
    study = RobustnessStudy(RobustnessConfig(**SMALL), gtn_dir)
    report = study.run()
    for spec in SMALL["learners"].split():
        entry = report["learners"][spec]
        assert entry["kept"]
        for mode in MODES:
            records = entry["modes"][mode]
            assert len(records) == 2
            for k, record in enumerate(records):
                assert len(record["noise"]) == 2 and len(record["lbfgs"]) == 2
                # beta = 0 is the clean input: the learner's accuracy on those examples
                arch, state = study.learner(spec, mode, k)
                assert record["noise"][0] == learning.accuracy(arch, state, study.x_test[:60], study.y_test[:60])
                assert record["ifgsm"][0] == learning.accuracy(arch, state, study.x_test[:30], study.y_test[:30])
                assert record["clean"] == learning.accuracy(arch, state, study.x_test, study.y_test)
                assert record["ifgsm"][1] <= record["ifgsm"][0]
                assert record["autoattack"] <= record["ifgsm"][0]  # both on the first 30 test images
    # learner k of a mode is the same learner every time; the modes differ
    arch, a = study.learner("mlp:width=8", "gtn_all", 1)
    _, b = study.learner("mlp:width=8", "gtn_all", 1)
    _, c = study.learner("mlp:width=8", "vanilla", 1)
    np.testing.assert_array_equal(a[0]["out"]["v"].numpy(), b[0]["out"]["v"].numpy())
    assert not np.array_equal(a[0]["out"]["v"].numpy(), c[0]["out"]["v"].numpy())
    for name in ("table.md", "robustness.png", "results.json"):
        assert os.path.exists(os.path.join(study.run_dir.path, name))
    table = open(os.path.join(study.run_dir.path, "table.md")).read()
    assert "| mlp:width=8 | ifgsm |" in table and "| mlp:width=8 | autoattack |" in table


def test_a_damaged_kept_accuracy_is_named_and_measured_again(gtn_dir):
    import json

    lines = []
    study = RobustnessStudy(RobustnessConfig(**dict(SMALL, learners="linear")), gtn_dir, progress=lines.append)
    clean, tests = study.clean_accuracies("linear"), study.tests("linear", "vanilla", 0)  # measured or kept
    clean_path = os.path.join(study.run_dir.path, "clean", "linear.json")
    tests_path = os.path.join(study.run_dir.path, "tests", "linear", "vanilla_seed0.json")
    for path, damaged, fault in [
            (clean_path, {k: v for k, v in clean.items() if k != "gtn_few"}, "gtn_few is missing"),
            (clean_path, {**clean, "vanilla": "0.9"}, "vanilla is '0.9' (a string); it must be a list"),
            (tests_path, {**tests, "noise": [0.5, None]}, "noise[1] is None (null); it must be a number"),
            (tests_path, "{half", "cannot be read (JSONDecodeError)")]:
        with open(path, "w") as f:
            f.write(damaged if isinstance(damaged, str) else json.dumps(damaged))
        lines.clear()
        again = study.clean_accuracies("linear") if path == clean_path else study.tests("linear", "vanilla", 0)
        assert again == (clean if path == clean_path else tests)
        message = fault if fault.startswith("cannot") else f"is not a measurement: {fault}"
        assert f"{path} {message}; measuring again" in lines, lines


def test_architectures_under_the_threshold_are_dropped_before_any_test(gtn_dir):
    study = RobustnessStudy(RobustnessConfig(**dict(SMALL, learners="linear", threshold=0.99)), gtn_dir)
    report = study.run()
    assert report["learners"]["linear"]["kept"] is False
    assert report["learners"]["linear"]["modes"] == {}
    assert not os.path.exists(os.path.join(study.run_dir.path, "tests"))


def test_gtn_dir_is_resolved_and_checked(gtn_dir, tmp_path):
    assert resolve_gtn_dir(os.path.dirname(gtn_dir)) == gtn_dir
    assert load_gtn(gtn_dir).inner_steps == 4
    unfinished = str(tmp_path / "unfinished")
    shutil.copytree(gtn_dir, unfinished, ignore=shutil.ignore_patterns("results.json", "robustness"))
    with pytest.raises(DataError, match="has not finished"):
        load_gtn(unfinished)
    two = tmp_path / "two"
    for name in ("a", "b"):
        shutil.copytree(gtn_dir, two / name, ignore=shutil.ignore_patterns("robustness"))
    with pytest.raises(ConfigError, match="holds 2 GTN runs"):
        resolve_gtn_dir(str(two))
    broken = tmp_path / "broken"
    shutil.copytree(gtn_dir, broken, ignore=shutil.ignore_patterns("robustness"))
    for name in os.listdir(broken / "checkpoints"):
        if name.endswith(".index"):
            (broken / "checkpoints" / name).write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="cannot be restored"):
        RobustnessStudy(RobustnessConfig(**SMALL), str(broken))


def test_a_gtn_without_a_generator_is_refused_before_anything_is_written(tmp_path):
    training = MetaTraining(tiny(ablation="real_data", outer_iters=1, valid_every=1), splits(), str(tmp_path))
    training.run()
    with pytest.raises(ConfigError, match="--ablation=real_data: it has no generator"):
        RobustnessStudy(RobustnessConfig(**SMALL), training.run_dir.path)
    assert not os.path.exists(os.path.join(training.run_dir.path, "robustness"))


def test_bad_settings_fail_clearly():
    with pytest.raises(ConfigError, match="-0.1 is not allowed; every beta must be a finite number >= 0"):
        RobustnessConfig(**dict(SMALL, noise_betas=(0.0, -0.1)))
    with pytest.raises(ConfigError, match="give increasing values"):
        RobustnessConfig(**dict(SMALL, blur_betas=(1.0, 1.0)))
    with pytest.raises(ConfigError, match="unknown learner"):
        RobustnessConfig(**dict(SMALL, learners="vgg"))
    with pytest.raises(ConfigError, match="--autoattack=pgd:eps=-1"):
        RobustnessConfig(**dict(SMALL, autoattack="pgd:eps=-1"))
    with pytest.raises(ConfigError, match="--seed=-1 is not allowed"):
        RobustnessConfig(**dict(SMALL, seed=-1))
    with pytest.raises(ConfigError, match="given once"):
        RobustnessConfig(**dict(SMALL, learners="linear linear"))
