"""ADMM pruning: the penalty and the Z/U/rho update as formulas, ||W - Z|| shrinking, the hard prune,
masked retraining at exact zeros, the lottery reset, the pipeline's stages and resume, the width
study's ratios."""
import dataclasses
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.build import build
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.hparams import read_summary
from tfrobust.layers import get_masks
from tfrobust.pruning.admm import Admm, check_ratios, hard_prune_masks
from tfrobust.pruning.admm_config import AdmmConfig
from tfrobust.pruning.admm_pipeline import AdmmPipeline
from tfrobust.training.hooks import StartFrom
from tfrobust.pruning.projections import project
from tfrobust.pruning.width_study import layer_weights, pair_ratios
from tfrobust.saving import load_model
from tfrobust.training import TrainConfig, Trainer

DATA = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TRAIN = TrainConfig(dataset=DATA, model="dense-300-100", valid_size=100, batch_size=20, eval_batch_size=100,
                    train_iters=10, eval_every=5, objective="madry", attack="fgsm:eps=0.1")
CONFIG = AdmmConfig(prune_ratios=("hidden_1:0.9", "hidden_2:0.5"), pretrain_iters=10, admm_iters=20,
                    admm_every=5, retrain_iters=10, train=TRAIN)


class _Trainer:
    """What the hook reads of a trainer, for tests that drive it by hand."""

    def __init__(self, model, iters=100):
        self.model = model
        self.setup = type("S", (), {"strategy": tf.distribute.get_strategy(),
                                    "config": dataclasses.replace(TRAIN, train_iters=iters)})()


def _model(seed=0):
    from tfrobust import models

    return models.build_model("dense-300-100", (10, 10, 1), 10, seed=seed)


def _hook(model, **kw):
    admm = Admm({"hidden_1": 0.9, "output": 0.5}, **{"rho": 0.1, "growth": 1.3, "every": 3, **kw})
    trainer = _Trainer(model)
    admm.state(trainer)
    admm.before_train(trainer, 0)
    return admm, trainer


def test_z_starts_as_the_projection_of_w_and_u_at_zero():
    model = _model()
    admm, _ = _hook(model)
    w = model.get_layer("hidden_1").kernel.numpy()
    np.testing.assert_array_equal(admm._state.z["hidden_1"].numpy(), project(w, "irregular", 0.9)[0])
    assert not np.any(admm._state.u["hidden_1"].numpy())
    assert set(admm._state.z) == {"hidden_1", "output"}  # hidden_2 has ratio 0: not constrained


def test_the_penalty_is_rho_over_2_times_the_squared_distance():
    model = _model()
    admm, _ = _hook(model, rho=0.25)
    s = admm._state
    s.u["output"].assign(tf.fill(s.u["output"].shape, 0.01))
    expected = 0.0
    for name in ("hidden_1", "output"):
        w = model.get_layer(name).kernel.numpy().astype(np.float64)
        expected += np.sum((w - s.z[name].numpy() + s.u[name].numpy()) ** 2)
    assert float(admm.penalty(model)) == pytest.approx(0.125 * expected, rel=1e-5)


def test_an_update_grows_rho_projects_w_plus_u_and_accumulates_the_residual():
    model = _model()
    admm, trainer = _hook(model, rho=0.1, growth=2.0)
    s = admm._state
    u0 = np.random.default_rng(0).normal(0, 0.01, s.u["hidden_1"].shape).astype(np.float32)
    s.u["hidden_1"].assign(u0)
    w = model.get_layer("hidden_1").kernel.numpy()
    admm.after_step(trainer, 2)  # not a multiple of every=3: nothing happens
    assert float(s.rho.numpy()) == pytest.approx(0.1) and int(s.updates.numpy()) == 0
    admm.after_step(trainer, 3)
    z = project(w + u0, "irregular", 0.9)[0]
    np.testing.assert_array_equal(s.z["hidden_1"].numpy(), z)
    np.testing.assert_allclose(s.u["hidden_1"].numpy(), u0 + w - z, atol=1e-7)
    assert float(s.rho.numpy()) == pytest.approx(0.2) and int(s.updates.numpy()) == 1
    assert np.count_nonzero(s.z["hidden_1"].numpy()) == round(0.1 * w.size)


def test_no_update_after_the_last_iteration():
    model = _model()
    admm, trainer = _hook(model, every=5)
    admm.after_step(trainer, 100)  # the stage's last step: the hard prune comes next, not an update
    assert int(admm._state.updates.numpy()) == 0


def test_w_minus_z_shrinks_over_admm_updates_on_a_small_problem(tmp_path):
    """Natural training with a strong penalty: the relative residual falls at every update."""
    config = dataclasses.replace(TRAIN, objective="natural", train_iters=120, eval_every=20, optimizer="sgd",
                                 learning_rate=0.1, experiment="admm")
    admm = Admm({"hidden_1": 0.8, "hidden_2": 0.8}, rho=1.0, growth=1.3, every=20)
    trainer = Trainer(admm.attach(build(config)), RunDir(str(tmp_path / "run"), config), hooks=[admm])
    trainer.run()
    curve = [m["admm"] for m in trainer.run_dir.read_metrics()]
    relative = [c["relative_residual"] for c in curve]
    assert [c["updates"] for c in curve] == [1, 2, 3, 4, 5, 5]
    assert all(b < a for a, b in zip(relative, relative[1:])), relative
    assert relative[-1] < 0.3 * relative[0]
    assert [c["rho"] for c in curve][:5] == pytest.approx([1.3 ** k for k in range(1, 6)])


def test_hard_prune_masks_keep_exactly_the_projection():
    model = _model()
    masks = hard_prune_masks(model, {"hidden_1": 0.9}, "column")
    w = model.get_layer("hidden_1").kernel.numpy()
    np.testing.assert_array_equal(masks["hidden_1"], project(w, "column", 0.9)[1])
    assert not np.any(masks["hidden_1"].all(axis=1)[np.flatnonzero(~masks["hidden_1"].any(axis=1))])
    assert masks["hidden_2"].all() and masks["output"].all()


def test_check_ratios_names_unknown_layers_and_drops_zero_ratios():
    model = _model()
    assert check_ratios(model, {"hidden_1": 0.5, "output": 0.0}) == {"hidden_1": 0.5}
    with pytest.raises(ConfigError, match="no masked layer named 'conv_9'; known: hidden_1, hidden_2, output"):
        check_ratios(model, {"conv_9": 0.5})
    with pytest.raises(ConfigError, match="must be in"):
        check_ratios(model, {"hidden_1": 1.0})


def test_the_lottery_start_sets_initial_weights_under_the_pruned_masks():
    trained, init = _model(seed=1), _model(seed=2)
    model = _model(seed=3)
    hook = StartFrom(trained.get_weights(), lambda m: hard_prune_masks(m, {"hidden_1": 0.75}, "irregular"),
                      init.get_weights())
    hook.before_train(_Trainer(model), 0)
    mask = project(trained.get_layer("hidden_1").kernel.numpy(), "irregular", 0.75)[1]
    np.testing.assert_array_equal(get_masks(model)["hidden_1"], mask)
    np.testing.assert_array_equal(model.get_layer("hidden_1").kernel.numpy(),
                                  init.get_layer("hidden_1").kernel.numpy() * mask)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("admm"))
    p = AdmmPipeline(CONFIG, base)
    return p, p.run()


def test_the_pipeline_prunes_each_layer_to_its_ratio_and_records_its_stages(pipeline):
    p, results = pipeline
    assert results["method"] == "admm" and list(results["stages"]) == ["pretrain", "admm", "retrain"]
    layers = results["layers"]
    assert layers["hidden_1"]["remaining"] == 100 * 300 - round(0.9 * 100 * 300)
    assert layers["hidden_2"]["remaining"] == 300 * 100 - round(0.5 * 300 * 100)
    assert layers["output"]["remaining"] == 1000
    total = sum(c["total"] for c in layers.values())
    assert results["compression"] == pytest.approx(total / sum(c["remaining"] for c in layers.values()))
    curve = results["residual_curve"]
    assert [(c["step"], c["update"]) for c in curve] == [(5, 1), (10, 2), (15, 3)]  # not after the last step
    assert [c["rho"] for c in curve] == pytest.approx([1e-3 * 1.3 ** k for k in (1, 2, 3)])
    assert results["stages"]["admm"]["path"].startswith("admm_stage" + os.sep)
    for stage in ("pretrain", "admm", "retrain"):
        assert set(results["stages"][stage]["final"]["test"]) == {"natural", "fgsm:eps=0.1"}
    assert results["stages"]["pretrain"]["path"].startswith("pretrain" + os.sep)


def test_each_stage_is_a_row_of_the_hparams_dashboard_with_what_it_depends_on(pipeline):
    p, results = pipeline
    summaries = {stage: read_summary(os.path.join(p.base_dir, results["stages"][stage]["path"], "tb"))
                 for stage in ("pretrain", "admm", "retrain")}
    for stage, summary in summaries.items():
        assert summary["hparams"]["stage"] == stage
        accuracy = results["stages"][stage]["final"]["test"]["fgsm:eps=0.1"]["accuracy"]
        assert summary["scalars"]["final/test/fgsm_eps0.1/accuracy"] == pytest.approx(accuracy)
    study = {stage: {k for k in s["hparams"] if k.startswith("admm/")} for stage, s in summaries.items()}
    assert study["pretrain"] == set()  # shared by every pipeline of its training config
    assert "admm/prune_ratios" in study["admm"] and "admm/retrain_iters" not in study["admm"]  # shared by retrainings
    assert "admm/method" not in study["admm"]
    assert summaries["retrain"]["hparams"]["admm/prune_ratios"] == "hidden_1:0.9 hidden_2:0.5"
    assert summaries["retrain"]["hparams"]["admm/method"] == "admm" and "admm/retrain_iters" in study["retrain"]


def test_masked_retraining_keeps_every_pruned_weight_at_exactly_zero(pipeline):
    p, results = pipeline
    model = load_model(os.path.join(p.base_dir, results["stages"]["retrain"]["path"], "model.keras"))
    admm_model = load_model(os.path.join(p.base_dir, results["stages"]["admm"]["path"], "model.keras"))
    masks = get_masks(model)
    for name in ("hidden_1", "hidden_2"):
        kernel = model.get_layer(name).kernel.numpy()
        assert np.all(kernel[masks[name] == 0] == 0.0)
        expected = project(admm_model.get_layer(name).kernel.numpy(), "irregular", p.ratios[name])[1]
        np.testing.assert_array_equal(masks[name], expected)
        assert np.all(kernel[masks[name] == 1] != 0.0)  # the survivors trained on


def test_a_finished_pipeline_is_returned_and_its_pretraining_is_shared(pipeline, capsys):
    p, results = pipeline
    again = AdmmPipeline(CONFIG, p.base_dir, progress=print).run()
    assert again == results and "is finished" in capsys.readouterr().out
    other = dataclasses.replace(CONFIG, admm_iters=0)  # one-shot: the same pretraining, no ADMM stage
    oneshot = AdmmPipeline(other, p.base_dir, progress=print)
    out = oneshot.run()
    assert out["method"] == "oneshot" and list(out["stages"]) == ["pretrain", "retrain"]
    assert out["stages"]["pretrain"]["path"] == results["stages"]["pretrain"]["path"]
    lottery = AdmmPipeline(dataclasses.replace(CONFIG, retrain_from="init"), p.base_dir).run()
    assert lottery["method"] == "admm-lt" and lottery["id"] != results["id"]
    assert lottery["stages"]["admm"] == results["stages"]["admm"]  # the same ADMM stage, not redone
    assert "pretrain" in capsys.readouterr().out.split("is finished")[0]


def test_a_killed_admm_stage_resumes_to_identical_metrics(pipeline, tmp_path):
    """Killed in the ADMM stage after its second checkpoint (Z, U and rho in it): the resumed run
    writes the same metrics and final weights as the uninterrupted one."""
    p, results = pipeline

    class Killed(Exception):
        pass

    class KillAt(Admm):
        def after_step(self, trainer, step):
            super().after_step(trainer, step)
            if step == 12:
                raise Killed

    import tfrobust.pruning.admm_pipeline as module

    original = module.Admm
    module.Admm = KillAt
    try:
        with pytest.raises(Killed):
            AdmmPipeline(CONFIG, str(tmp_path)).run()
    finally:
        module.Admm = original
    resumed = AdmmPipeline(CONFIG, str(tmp_path)).run()
    strip = lambda r: json.loads(json.dumps(r["final"]))  # noqa: E731
    assert strip(resumed) == strip(results)
    assert resumed["residual_curve"] == results["residual_curve"]
    admm_dir = lambda base: os.path.join(base, results["stages"]["admm"]["path"])  # noqa: E731
    assert RunDir(admm_dir(str(tmp_path)), None).read_metrics() == RunDir(admm_dir(p.base_dir), None).read_metrics()


@pytest.mark.parametrize("changes, message", [
    (dict(prune_ratios=("hidden_1:1.0",)), "--prune_ratios='hidden_1:1.0' is not allowed"),
    (dict(prune_ratios=("hidden_1",)), "write layer:ratio"),
    (dict(prune_ratio=-0.1), "--prune_ratio=-0.1 is not allowed"),
    (dict(prune_ratios=(), prune_ratio=0.0), "nothing to prune"),
    (dict(rho=0.0), "--rho=0.0 is not allowed"),
    (dict(rho=-1.0), "--rho=-1.0 is not allowed"),
    (dict(rho_growth=0.5), "--rho_growth=0.5 is not allowed"),
    (dict(sparsity="block"), "--sparsity='block' is not allowed"),
    (dict(admm_every=0), "--admm_every=0 is not allowed"),
    (dict(retrain_from="rewind"), "--retrain_from='rewind' is not allowed"),
    (dict(admm_learning_rate=0.0), "--admm_learning_rate=0.0 is not allowed"),
    (dict(retrain_optimizer="lbfgs"), "--retrain_optimizer='lbfgs' is not allowed"),
])
def test_bad_settings_name_the_flag(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(CONFIG, **changes)


def test_an_unknown_layer_fails_before_anything_is_written(tmp_path):
    config = dataclasses.replace(CONFIG, prune_ratios=("conv_9:0.5",))
    with pytest.raises(ConfigError, match="no masked layer named 'conv_9'"):
        AdmmPipeline(config, str(tmp_path)).run()
    assert not os.listdir(str(tmp_path))


def test_a_ratio_that_leaves_a_layer_no_weight_fails_before_anything_is_written(tmp_path):
    """Structured pruning rounds to whole units: 0.95 of the output layer's 10 filters removes all 10
    (the run would report dense-300-100 compressed 61000x); the error names the layer and the ratio."""
    model = _model()
    for ratios, sparsity, message in [
            ({"output": 0.95}, "filter", "the prune ratio 0.95 removes all 10 filters of output (sparsity filter), "
                                         "leaving it no weight; output needs a ratio below 0.95"),
            ({"hidden_1": 0.996}, "column", "the prune ratio 0.996 removes all 100 columns of hidden_1 (sparsity "
                                            "column), leaving it no weight; hidden_1 needs a ratio below 0.995"),
            ({"output": 0.9996}, "irregular", "removes all 1000 weights of output")]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            check_ratios(model, ratios, sparsity)
        with pytest.raises(ConfigError, match=re.escape(message)):
            Admm(ratios, sparsity).names(model)
    assert check_ratios(model, {"output": 0.94, "hidden_1": 0.994}, "filter") == {"hidden_1": 0.994, "output": 0.94}
    config = dataclasses.replace(CONFIG, prune_ratios=(), prune_ratio=0.95, sparsity="filter")
    with pytest.raises(ConfigError, match="the prune ratio 0.95 removes all 10 filters of output"):
        AdmmPipeline(config, str(tmp_path)).run()
    assert not os.listdir(str(tmp_path))


def test_the_admm_stage_restarts_its_learning_rate_every_period():
    stage = dataclasses.replace(CONFIG, admm_every=9).stage("admm")
    assert (stage.schedule, stage.cycle_iters, stage.lr_boundaries, stage.lr_factors) == \
        ("restart", 9, (3, 6), (0.1, 0.01))
    assert stage.optimizer == "sgd" and stage.learning_rate == 0.01 and stage.train_iters == 20
    assert dataclasses.replace(CONFIG, restart_lr=False).stage("admm").schedule == "constant"


def test_width_pairs_prune_each_layer_to_the_narrow_networks_count():
    wide = layer_weights("lenet", {}, 8, (28, 28, 1), 10)
    narrow = layer_weights("lenet", {}, 2, (28, 28, 1), 10)
    ratios = pair_ratios(wide, narrow)
    kept = {n: wide[n] - round(r * wide[n]) for n, r in ratios.items()}
    assert kept == narrow
    assert sum(wide.values()) == 821_136 and sum(narrow.values()) == 52_356  # the paper's counts


def test_the_width_study_runs_every_pair_and_caches_its_final_evaluations(tmp_path, monkeypatch):
    from tfrobust.analysis import admm as report
    from tfrobust.pruning.width_study import WidthStudy

    train = dataclasses.replace(TRAIN, model="lenet", eval_every=4)
    template = dataclasses.replace(CONFIG, prune_ratios=(), prune_ratio=0.5, pretrain_iters=4, admm_iters=4,
                                   admm_every=2, retrain_iters=4, train=train)
    make = lambda: WidthStudy(template, [1, 2], str(tmp_path), methods=("admm", "oneshot"),  # noqa: E731
                              final_attacks=["fgsm:eps=0.05"], final_examples=40)
    study = make().run()
    assert set(study["pruned"]) == {"admm", "oneshot"} and list(study["pruned"]["admm"]) == ["2->1"]
    record = study["pruned"]["admm"]["2->1"]
    assert record["compression"] == pytest.approx(study["weights"]["2"] / study["weights"]["1"], rel=1e-3)
    for cell in [record, study["baselines"]["natural"]["1"], study["baselines"]["adversarial"]["2"]]:
        assert cell["final_attacks"]["examples"] == 40
        assert set(cell["final_attacks"]["results"]) == {"natural", "fgsm:eps=0.05"}
    assert json.load(open(os.path.join(str(tmp_path), "study.json")))["final_examples"] == 40

    import tfrobust.evaluation

    monkeypatch.setattr(tfrobust.evaluation, "evaluate", lambda *a, **k: pytest.fail("evaluated again"))
    again = make().run()
    assert json.loads(json.dumps(again)) == json.loads(json.dumps(study))
    paths = report.write_study_report(again, str(tmp_path))
    text = open(paths["markdown"]).read()
    assert "## admm: natural/fgsm:eps=0.05 on the first 40 test images (%)" in text and os.path.exists(paths["plot"])


def test_the_pipeline_under_mirrored_strategy_on_two_cpus_matches_one_device(pipeline, tmp_path):
    """Z, U and rho are mirrored variables, the penalty is added per replica: two replicas prune as one."""
    p, results = pipeline
    train = dataclasses.replace(TRAIN, strategy="mirrored", devices=("/cpu:0", "/cpu:1"))
    mirrored = AdmmPipeline(dataclasses.replace(CONFIG, train=train), str(tmp_path))
    out = mirrored.run()
    assert mirrored.setup.strategy.num_replicas_in_sync == 2
    assert out["layers"] == results["layers"]
    np.testing.assert_allclose([c["rho"] for c in out["residual_curve"]], [c["rho"] for c in results["residual_curve"]])
    np.testing.assert_allclose([c["relative_residual"] for c in out["residual_curve"]],
                               [c["relative_residual"] for c in results["residual_curve"]], rtol=1e-3)
    a = load_model(os.path.join(str(tmp_path), out["stages"]["retrain"]["path"], "model.keras"))
    b = load_model(os.path.join(p.base_dir, results["stages"]["retrain"]["path"], "model.keras"))
    masks_a, masks_b = get_masks(a), get_masks(b)
    for name in masks_a:
        assert np.mean(masks_a[name] == masks_b[name]) > 0.999
