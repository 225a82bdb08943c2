"""The flatness study: the zoo's variants are their configs, bad specs fail before anything is
written, and a measured zoo gives the table, Kendall's tau and the plots; cached measurements are
reused."""
import json
import math
import os

import pytest

from tfrobust.analysis import flatness as report_tables
from tfrobust.errors import ConfigError, DataError
from tfrobust.flatness.study import FlatnessStudy, MeasureConfig
from tfrobust.flatness.zoo import VARIANTS, Zoo, parse_variants, variant_config
from tfrobust.training import TrainConfig

DATA = "synthetic:image_shape=10x10x1,train_size=300,test_size=60,noise_std=0.6"
TEMPLATE = TrainConfig(model="lenet:width=1", dataset=DATA, valid_size=60, batch_size=20, train_iters=6,
                       eval_every=3, objective="madry", attack="pgd:eps=0.1,step_size=0.05,steps=2", snapshots=True,
                       early_stopping=True)
TINY = dict(examples=40, rloss_attack="pgd:eps=0.1,step_size=0.05,steps=2", final_attack="fgsm:eps=0.1",
            final_examples=40, flatness_examples=40, avg_draws=2, worst_steps=2, worst_restarts=2, hessian_examples=20,
            landscape_points=4, landscape_directions=1, landscape_examples=20, batch_size=20)


def test_each_variant_is_the_template_changed_in_one_place():
    assert variant_config(TEMPLATE, "at") == TrainConfig(**{**TEMPLATE.__dict__, "experiment": "at"})
    assert variant_config(TEMPLATE, "trades:beta=3").objective == "trades:beta=3"
    assert variant_config(TEMPLATE, "awp:xi=0.01").objective == "awp:xi=0.01"
    assert variant_config(TEMPLATE, "label_noise:p=0.3").label_noise == 0.3
    assert variant_config(TEMPLATE, "label_smoothing").label_smoothing == 0.1
    assert variant_config(TEMPLATE, "weight_clip:w_max=0.02").weight_clip == 0.02
    assert variant_config(TEMPLATE, "weight_average").weight_average == 0.9975
    cyclic = variant_config(TEMPLATE, "cyclic")
    assert (cyclic.schedule, cyclic.cycle_iters) == ("cyclic", TEMPLATE.train_iters)
    rotation = variant_config(TEMPLATE, "rotation:weight=2")
    assert (rotation.model, rotation.objective) == ("lenet:width=1,rotation_head=true", "rotation:weight=2.0")
    import dataclasses
    plain = dataclasses.replace(TEMPLATE, model="dense-300-100")
    assert variant_config(plain, "rotation").model == "dense-300-100:rotation_head=true"
    for spec in ("at", "trades", "label_noise:p=0.2"):
        config = variant_config(TEMPLATE, spec)
        assert config.experiment == spec.partition(":")[0]
        assert (config.dataset, config.train_iters, config.attack) == (TEMPLATE.dataset, 6, TEMPLATE.attack)
    assert set(VARIANTS.names()) >= {"at", "label_noise", "label_smoothing", "rotation", "weight_clip"}


@pytest.mark.parametrize("specs,message", [
    (["at", "sharpness"], "--variants: unknown variant 'sharpness'; known: at, cyclic"),
    (["at", "at"], "--variants: 'at' is listed twice"),
    ([], "--variants is empty"),
])
def test_a_bad_variant_list_is_one_line(specs, message):
    with pytest.raises(ConfigError, match=message):
        parse_variants(specs)


@pytest.mark.parametrize("spec,message", [
    ("trades:beta=-1", "--variants: trades:beta=-1: --objective=trades:beta=-1: objective 'trades': beta=-1.0 is "
                       "not allowed"),
    ("mart:beta=inf", "objective 'mart': beta=inf is not allowed"),
    ("label_noise:p=1", "--variants: label_noise:p=1: --label_noise=1.0 is not allowed"),
    ("label_smoothing:p=1", "flatness variant 'label_smoothing' has no option 'p'"),
])
def test_a_variant_out_of_range_fails_before_anything_is_written(spec, message, tmp_path):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Zoo(TEMPLATE, ["at", spec], str(tmp_path / "zoo"))
    assert not os.path.exists(tmp_path / "zoo")


def test_measure_settings_are_checked():
    for field, value, message in [("avg_xi", -0.5, "--avg_xi=-0.5 is not allowed"),
                                  ("worst_xi", float("nan"), "--worst_xi=nan is not allowed"),
                                  ("avg_xi", 0.0, r"--avg_xi=0.0 is not allowed; it must be a layer-wise relative "
                                                  r"radius in \(0, 1\]"),
                                  ("worst_xi", 1e10, "--worst_xi=10000000000.0 is not allowed"),
                                  ("avg_xi", float("inf"), "--avg_xi=inf is not allowed"),
                                  ("curve_variants", "at sharpness", "--curve_variants: unknown variant 'sharpness'; "
                                                                     "known: at, cyclic"),
                                  ("landscape_variant", "flat", "--landscape_variant: unknown variant 'flat'"),
                                  ("avg_draws", 0, "--avg_draws=0 is not allowed"),
                                  ("final_attack", "nope", "--final_attack=nope")]:
        with pytest.raises(ConfigError, match=message):
            MeasureConfig(**{field: value})
    assert MeasureConfig().key() == MeasureConfig(curve_variants="", landscape_points=3).key()
    assert MeasureConfig().key() != MeasureConfig(avg_xi=0.25).key()


def test_kendall_tau_is_the_rank_agreement():
    rows = [{"x": float(i), "y": float(i * i)} for i in range(5)]
    assert report_tables.kendall(rows, "y", "x")["tau"] == pytest.approx(1.0)
    assert report_tables.kendall([{"x": r["x"], "y": -r["y"]} for r in rows], "y", "x")["tau"] == pytest.approx(-1.0)
    assert report_tables.kendall(rows[:2], "y", "x") == {"tau": None, "p": None, "n": 2}
    assert report_tables.kendall(rows + [{"x": None, "y": 1.0}], "y", "x")["n"] == 5


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("flatness") / "zoo")
    record = Zoo(TEMPLATE, ["at", "trades:beta=1", "label_noise:p=0.2"], base).run()
    return base, record


def test_the_zoo_trains_every_variant_with_snapshots_and_a_best_model(zoo):
    base, record = zoo
    with open(os.path.join(base, "zoo.json")) as f:
        assert json.load(f) == json.loads(json.dumps(record))
    assert [r["variant"] for r in record["runs"]] == ["at", "trades:beta=1", "label_noise:p=0.2"]
    for run in record["runs"]:
        assert [s["step"] for s in run["snapshots"]] == [3, 6]
        assert all(os.path.exists(os.path.join(base, run["path"], s["path"])) for s in run["snapshots"])
        assert run["best"]["step"] in (3, 6) and os.path.exists(os.path.join(base, run["path"], "best", "model.keras"))
    assert len({r["id"] for r in record["runs"]}) == 3


def test_the_report_measures_finals_and_the_curve_and_reuses_its_measurements(zoo, tmp_path):
    base, _ = zoo
    config = MeasureConfig(**TINY, avg_xi=0.5, worst_xi=0.05)
    first = FlatnessStudy(config, base).run()
    finals = [m for m in first["models"] if m["final"]]
    curve = [m for m in first["models"] if not m["final"]]
    assert [m["variant"] for m in finals] == ["at", "trades:beta=1", "label_noise:p=0.2"]
    assert [(m["variant"], m["step"]) for m in curve] == [("at", 3)]  # the last snapshot is the final model
    for m in first["models"]:
        assert all(math.isfinite(m[k]) for k in ("avg_flatness", "worst_flatness", "avg_flatness_clean",
                                                 "worst_flatness_clean"))
        assert m["rloss_gap"] == pytest.approx(m["rloss_test"] - m["rloss_train"])
        assert 0.0 <= m["clean_error"] <= m["pgd_error"] <= 1.0
        assert m["lambda_max"] >= m["lambda_min"]
    assert all("aa_error" in m for m in finals) and not any("aa_error" in m for m in curve)
    assert first["seconds"]["avg_flatness / one PGD RLoss"] > 0
    again = FlatnessStudy(config, base).run()  # every measurement cached: the same numbers
    strip = lambda r: [{k: v for k, v in m.items() if k != "seconds"} for m in r["models"]]  # noqa: E731
    assert strip(again) == strip(first)
    assert again["landscape"]["curves"] == first["landscape"]["curves"]
    cache = os.path.join(base, first["models"][0]["path"], "flatness", first["key"])
    damaged = os.path.join(cache, sorted(os.listdir(cache))[0])
    with open(damaged, "w") as f:
        f.write("{half a rec")  # a damaged measurement is made again, not a traceback
    wrong = os.path.join(cache, sorted(os.listdir(cache))[1])
    with open(wrong) as f:
        record = json.load(f)
    with open(wrong, "w") as f:
        json.dump({**record, "rloss_gap": "high"}, f)  # so is one of the wrong shape, and the report says which
    lines = []
    assert strip(FlatnessStudy(config, base, progress=lines.append).run()) == strip(first)
    assert any(f"{damaged} cannot be read (JSONDecodeError); measuring again" in line for line in lines), lines
    assert any(f"{wrong} is not a measurement: rloss_gap is 'high' (a string); it must be a number; measuring again"
               in line for line in lines), lines
    paths = report_tables.write_report(first, str(tmp_path))
    assert all(os.path.getsize(p) > 0 for p in paths.values())
    assert "rloss_gap ~ avg_flatness" in open(paths["markdown"]).read()
    assert os.path.exists(os.path.join(base, "landscape.png")) and os.path.exists(os.path.join(base, "landscape_2d.png"))


def test_flatness_grows_with_xi_in_the_report(zoo):
    base, _ = zoo
    config = MeasureConfig(**{**TINY, "curve_variants": "", "landscape_variant": "", "hessian_examples": 0},
                           avg_xi=0.5, worst_xi=0.05)
    report = FlatnessStudy(config, base).run()
    assert all(m["avg_flatness"] != 0.0 and m["worst_flatness"] > 0.0 for m in report["models"])
    assert "landscape" not in report and all("lambda_max" not in m for m in report["models"])


def test_curve_and_landscape_variants_must_be_in_the_zoo(zoo):
    base, _ = zoo
    for field, value in (("curve_variants", "at mart"), ("landscape_variant", "trades:beta=6")):
        with pytest.raises(ConfigError, match=f"--{field}={value}: the zoo {base}/zoo.json has no variant "
                                              f"'{value.split()[-1]}'; its variants: at, trades:beta=1, label_noise:p=0.2"):
            FlatnessStudy(MeasureConfig(**{field: value}), base)
    study = FlatnessStudy(MeasureConfig(curve_variants="trades label_noise:p=0.2", landscape_variant="trades:beta=1"), base)
    assert [(t["variant"], t["final"]) for t in study._targets()] == [  # a name or a whole spec picks a variant
        ("at", True), ("trades:beta=1", False), ("trades:beta=1", True), ("label_noise:p=0.2", False),
        ("label_noise:p=0.2", True)]


def test_a_missing_or_damaged_zoo_is_one_line(tmp_path):
    with pytest.raises(DataError, match="zoo.json does not exist: train the zoo first"):
        FlatnessStudy(MeasureConfig(), str(tmp_path))
    (tmp_path / "zoo.json").write_text("{not json")
    with pytest.raises(DataError, match="zoo.json is not a zoo record"):
        FlatnessStudy(MeasureConfig(), str(tmp_path))


def test_two_specs_of_one_run_and_a_variant_the_data_refuses_fail_before_training(tmp_path):
    with pytest.raises(ConfigError, match="'label_smoothing' and 'label_smoothing:value=0.1' are the same training run"):
        Zoo(TEMPLATE, ["label_smoothing", "label_smoothing:value=0.1"], str(tmp_path / "zoo"))
    for specs in (["at", "madry"], ["trades", "trades:beta=6.0"], ["mart:beta=6", "mart: beta = 6.0"]):
        # another spelling, or another directory, of one training run (the template is madry; beta's default is 6)
        with pytest.raises(ConfigError, match=f"--variants: '{specs[0]}' and '{specs[1]}' are the same training run"):
            Zoo(TEMPLATE, specs, str(tmp_path / "zoo"))
    import dataclasses
    oblong = dataclasses.replace(TEMPLATE, dataset=DATA.replace("10x10x1", "10x8x1"))
    with pytest.raises(ConfigError, match="--variants: rotation: --objective=rotation:weight=0.5: .*square"):
        Zoo(oblong, ["at", "rotation"], str(tmp_path / "zoo"))
    assert not os.path.exists(tmp_path / "zoo")
    with pytest.raises(ConfigError, match="--rloss_attack=fgsm:eps=0.1: attack='fgsm:eps=0.1' is not allowed"):
        MeasureConfig(rloss_attack="fgsm:eps=0.1")


def test_a_study_wide_objective_beside_variants_with_their_own_is_refused():
    from tfrobust.flatness.zoo import check_objective

    check_objective(TEMPLATE, ["at", "label_noise:p=0.2", "weight_clip"])  # every variant trains with it
    for specs, own in ((["at", "trades:beta=6", "mart"], "trades:beta=6 mart"), (["at", "rotation"], "rotation")):
        with pytest.raises(ConfigError, match=f"--objective=madry is the objective of every variant, but --variants "
                                              f"{own} set their own, which would replace it"):
            check_objective(TEMPLATE, specs)
