"""ATMC (seed 002): the l0 projection, the quantization ADMM, the pipeline and its baselines."""
import dataclasses
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.build import build
from tfrobust.compression.atmc import AtmcPipeline
from tfrobust.compression.atmc_config import AtmcConfig
from tfrobust.compression.atmc_study import AtmcStudy
from tfrobust.hparams import read_summary
from tfrobust.compression.l0 import L0Projection, budget, l0_masks
from tfrobust.compression.quant_admm import QuantizationAdmm
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.layers import FactorizedDense, count_weights
from tfrobust.layers.compressible import prunable_variables
from tfrobust.saving import load_model
from tfrobust.training import TrainConfig, Trainer

DATA = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TRAIN = TrainConfig(dataset=DATA, model="dense-300-100", valid_size=100, batch_size=20, eval_batch_size=100,
                    train_iters=10, eval_every=5, objective="mix", attack="fgsm:eps=0.1",
                    eval_attacks=("fgsm:eps=0.1", "wrm:gamma=1.3,steps=3,eps=0.1"))
CONFIG = AtmcConfig(method="atmc", keep=0.1, bits=4, quant_every=2, dense_iters=10, compress_iters=6, quant_iters=6,
                    train=TRAIN)
DENSE = 100 * 300 + 300 * 100 + 100 * 10  # dense-300-100's kernels on 10x10 inputs


# ---- the l0 projection ----------------------------------------------------------------------
def test_the_l0_projection_keeps_exactly_k_entries_the_largest_ties_by_position():
    rng = np.random.default_rng(0)
    tensors = [rng.normal(size=(30, 20)).round(1).astype(np.float32), rng.normal(size=(7,)).round(1).astype(np.float32)]
    for k in (1, 13, 200, 607):
        masks = [m.numpy() for m in l0_masks([tf.constant(t) for t in tensors], k)]
        assert sum(int(m.sum()) for m in masks) == k  # exactly k, although the rounded values tie
        kept = np.concatenate([np.abs(t)[m == 1] for t, m in zip(tensors, masks)])
        dropped = np.concatenate([np.abs(t)[m == 0] for t, m in zip(tensors, masks)])
        assert dropped.size == 0 or kept.min() >= dropped.max()
    with pytest.raises(ConfigError, match="between 1 and the 607 weights"):
        l0_masks([tf.constant(t) for t in tensors], 608)


def test_the_budget_is_the_kept_fraction_of_the_dense_weights():
    assert budget(430_500, 0.01) == 4305 and budget(10, 1e-6) == 1 and budget(10, 1.0) == 10
    for keep in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ConfigError, match=re.escape(f"--keep={keep!r} is not allowed; the kept fraction must be in (0, 1]")):
            budget(10, keep)


def _run(tmp_path, hooks, admm=None, **changes):
    config = dataclasses.replace(TRAIN, objective="natural", experiment="x", **changes)
    setup = build(config)
    if admm is not None:
        setup = admm.attach(setup)
    trainer = Trainer(setup, RunDir(str(tmp_path / "run"), config), hooks=hooks)
    trainer.run()
    return trainer


def test_training_under_the_l0_projection_ends_with_k_weights_and_masks_on_them(tmp_path):
    hook = L0Projection(keep=0.02)
    trainer = _run(tmp_path, [hook], train_iters=10, eval_every=5)
    k = budget(DENSE, 0.02)
    records = trainer.run_dir.read_metrics()
    assert [r["l0"]["k"] for r in records] == [k, k]
    assert all(r["l0"]["nonzero"] <= k for r in records)
    assert records[0]["weights"]["total"]["fraction"] == 1.0  # during training the masks stay open (regrowth)
    prunables = prunable_variables(trainer.model)
    assert sum(int(p.mask.numpy().sum()) for p in prunables) == records[-1]["l0"]["nonzero"]
    for p in prunables:  # after the last step: masks = the surviving entries
        np.testing.assert_array_equal(p.mask.numpy(), (p.variable.numpy() != 0).astype(np.float32))


def _fake_trainer(model, iters=1000):
    return type("T", (), {"model": model, "setup": type("S", (), {
        "strategy": tf.distribute.get_strategy(), "config": dataclasses.replace(TRAIN, train_iters=iters)})()})()


def test_admm_brings_w_to_its_quantization_on_a_small_problem():
    """min 1/2 ||W - W0||^2 s.t. 2-bit W, by gradient steps on the augmented loss and ADMM updates
    (rho x1.3 each): ||W - Z|| / ||W|| falls by 10x over ten updates; the end leaves 4 values."""
    import tf_keras as keras

    from tfrobust.layers import MaskedDense

    inputs = keras.Input((20,))
    model = keras.Model(inputs, MaskedDense(30, name="fc", kernel_initializer=keras.initializers.GlorotUniform(0))(inputs))
    w = model.get_layer("fc").kernel
    w0 = w.numpy().copy()
    admm = QuantizationAdmm(bits=2, rho=0.5, growth=1.3, every=1)
    trainer = _fake_trainer(model)
    admm.state(trainer)
    admm.before_train(trainer, 0)
    s, residuals = admm._state, []
    for _ in range(10):
        for _ in range(20):  # the W-step: gradient descent on the loss plus the penalty
            grad = (w.numpy() - w0) + s.rho.numpy() * (w.numpy() - s.z["fc"].numpy() + s.u["fc"].numpy())
            w.assign(w.numpy() - 0.2 * grad)
        residuals.append(admm.update(model)["relative_residual_before"])
    assert residuals[-1] < 0.15 * residuals[0], residuals
    admm.after_step(trainer, 1000)  # the last step quantizes W itself
    assert len(np.unique(w.numpy())) <= 4 and 0.0 in np.unique(w.numpy())
    np.testing.assert_allclose(w.numpy(), s.z["fc"].numpy(), atol=0.1 * np.abs(w0).max())


def test_quantization_z_keeps_the_support_of_w():
    from tfrobust import models

    model = models.build_model("dense-300-100", (10, 10, 1), 10, seed=0)
    kernel = model.get_layer("hidden_1").kernel
    kernel.assign(kernel * tf.cast(tf.random.stateless_uniform(kernel.shape, [1, 2]) < 0.3, tf.float32))
    admm = QuantizationAdmm(bits=3, every=1)
    trainer = _fake_trainer(model)
    admm.state(trainer)
    admm.before_train(trainer, 0)
    z = admm._state.z["hidden_1"].numpy()
    assert np.all(z[kernel.numpy() == 0] == 0) and len(np.unique(z)) <= 8


# ---- the pipeline -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("atmc"))
    methods = ["atmc", "da", "nap", "ap", "al0", "alr", "qat"]
    template = dataclasses.replace(CONFIG, compress_iters=4, quant_iters=4)
    return base, AtmcStudy(template, methods, [0.1], base).run()


def _entry(study, label):
    return next(e for r in study[1]["runs"] for e in r["models"] if e["label"] == label)


def test_every_method_reports_its_models_with_both_sizes(study):
    base, record = study
    labels = [e["label"] for r in record["runs"] for e in r["models"]]
    assert labels == ["ATMC-32bit", "ATMC-4bit", "DA", "NAP", "AP", "Al0", "ALR", "QAT-4bit"]
    k = budget(DENSE, 0.1)
    for r in record["runs"]:
        for e in r["models"]:
            size = e["size"]
            assert size["dense_weights"] == DENSE
            assert size["ratio"] == pytest.approx(size["kept"] * size["bits"] / (DENSE * 32))
            if e["label"] in ("ATMC-32bit", "ATMC-4bit", "AP", "Al0", "NAP"):
                assert size["kept"] <= k + 3  # NAP: tfmot rounds per layer
            path = os.path.join(base, e["path"], "model.tflite")
            assert os.path.getsize(path) == e["export"]["bytes"] and e["export"]["gzip_bytes"] < e["export"]["bytes"]
            assert {"natural", "fgsm:eps=0.1", "wrm:steps=3,eps=0.1"} <= set(e["final"]["test"])
    assert _entry(study, "AP")["size"]["kept"] == k  # global magnitude pruning: exactly k
    assert _entry(study, "QAT-4bit")["size"] == {"kept": DENSE, "bits": 4, "dense_weights": DENSE,
                                                 "bits_total": 4 * DENSE, "ratio": 0.125}


def test_qat_quantizes_the_weights_to_the_bits_asked(study):
    """--bits reaches QAT: its TFLite model's kernels hold at most 2**4 - 1 distinct values (tfmot's
    n-bit scheme, narrow range), where 8 bits would give up to 255."""
    import warnings

    base, _ = study
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=os.path.join(base, _entry(study, "QAT-4bit")["path"], "model.tflite"))
    interpreter.allocate_tensors()
    kernels = [interpreter.get_tensor(d["index"]) for d in interpreter.get_tensor_details()
               if d["dtype"] == np.int8 and len(d["shape"]) == 2 and d["shape"][0] > 1]
    assert sorted(k.shape for k in kernels) == [(10, 100), (100, 300), (300, 100)]
    assert all(len(np.unique(k)) <= 15 for k in kernels), [len(np.unique(k)) for k in kernels]


def test_atmc_ends_factorized_sparse_and_quantized(study):
    base, _ = study
    entry = _entry(study, "ATMC-4bit")
    model = load_model(os.path.join(base, entry["path"], "model.keras"))
    assert any(isinstance(layer, FactorizedDense) for layer in model.layers)
    prunables = prunable_variables(model)
    assert {p.name.rsplit("/", 1)[1] for p in prunables} == {"A", "B", "C"}
    assert sum(int(np.count_nonzero(p.masked().numpy())) for p in prunables) == entry["size"]["kept"]
    for p in prunables:
        assert len(np.unique(p.masked().numpy())) <= 16  # 4 bits, zero included
    assert entry["size"]["bits"] == 4 and entry["export"]["agreement"] >= 0.9


def test_atmc_starts_from_the_svd_factors_and_spends_its_budget_on_them(study):
    base, _ = study
    entry = _entry(study, "ATMC-32bit")
    assert entry["path"].startswith("atmc32/")  # shared by every bit width
    model = load_model(os.path.join(base, entry["path"], "model.keras"))
    nonzero = {part: sum(int(np.count_nonzero(p.masked().numpy())) for p in prunable_variables(model)
                         if p.name.endswith("/" + part)) for part in "BAC"}
    assert nonzero["B"] > 0 and nonzero["A"] > 0, nonzero  # the factors hold the budget, not a copy of Al0
    assert sum(nonzero.values()) == entry["size"]["kept"] <= budget(DENSE, 0.1)


def test_configs_that_train_the_same_thing_share_a_directory(tmp_path):
    from tfrobust.config import run_id

    ap = dataclasses.replace(CONFIG, method="ap")
    assert run_id(dataclasses.replace(ap, bits=4, rho=1.0).canonical()) == run_id(ap.canonical())
    assert run_id(dataclasses.replace(CONFIG, method="da", keep=0.5).canonical()) == \
        run_id(dataclasses.replace(CONFIG, method="da").canonical())
    assert run_id(dataclasses.replace(CONFIG, bits=8).canonical()) != run_id(CONFIG.canonical())
    assert dataclasses.replace(CONFIG, bits=8).without_quantization() == CONFIG.without_quantization()
    qat = dataclasses.replace(CONFIG, method="qat")  # QAT honours --bits: another number of bits is another run
    assert run_id(dataclasses.replace(qat, bits=8).canonical()) != run_id(qat.canonical())
    assert run_id(dataclasses.replace(qat, keep=0.5, rho=1.0).canonical()) == run_id(qat.canonical())
    with pytest.raises(ConfigError, match="method ap has no factorized layers"):
        dataclasses.replace(CONFIG, method="ap", ranks=("output:2",))


def test_the_baselines_train_what_they_say(study):
    base, _ = study
    nap = load_model(os.path.join(base, _entry(study, "NAP")["path"], "model.keras"))
    fractions = {name: c["fraction"] for name, c in count_weights(nap).items() if name != "total"}
    assert all(f == pytest.approx(0.1, abs=0.01) for f in fractions.values())  # tfmot: 90% sparsity per layer
    nap_dense = RunDir(os.path.join(base, _entry(study, "NAP")["path"]), None)
    assert nap_dense.read_results()["config"]["objective"] == "natural"
    alr = load_model(os.path.join(base, _entry(study, "ALR")["path"], "model.keras"))
    c_masks = [p.mask.numpy() for p in prunable_variables(alr) if p.name.endswith("/C")]
    assert c_masks and not any(m.any() for m in c_masks)  # pure low rank
    assert sum(layer.kept_rank for layer in alr.layers if hasattr(layer, "kept_rank")) < 100 + 100 + 10
    dense_paths = {e["path"].split("/")[0:2][1] for r in study[1]["runs"] for e in [r["dense"]]}
    assert len(dense_paths) == 2  # one adversarial dense stage shared by all, one natural (NAP)


def test_stages_show_in_the_hparams_dashboard_with_what_they_depend_on(study):
    base, record = study
    hparams = lambda path: read_summary(os.path.join(base, path, "tb"))["hparams"]  # noqa: E731
    dense = hparams(record["runs"][0]["dense"]["path"])
    assert dense["stage"] == "dense" and not [k for k in dense if k.startswith("atmc/")]  # shared by every method
    atmc32, atmcb = hparams(_entry(study, "ATMC-32bit")["path"]), hparams(_entry(study, "ATMC-4bit")["path"])
    assert atmc32["stage"] == "atmc32" and atmc32["atmc/keep"] == pytest.approx(0.1) and "atmc/bits" not in atmc32
    assert atmcb["atmc/bits"] == 4 and atmcb["atmc/method"] == "atmc"


def test_a_killed_atmc_run_resumes_to_identical_metrics(study, tmp_path):
    base, record = study
    finished = next(r for r in record["runs"] if r["method"] == "atmc")

    class Killed(Exception):
        pass

    class KillAt(QuantizationAdmm):
        def after_step(self, trainer, step):
            super().after_step(trainer, step)
            if step == 3:
                raise Killed

    import tfrobust.compression.atmc as module

    config = dataclasses.replace(CONFIG, compress_iters=4, quant_iters=4)
    original = module.QuantizationAdmm
    module.QuantizationAdmm = KillAt
    try:
        with pytest.raises(Killed):
            AtmcPipeline(config, str(tmp_path)).run()
    finally:
        module.QuantizationAdmm = original
    resumed = AtmcPipeline(config, str(tmp_path)).run()
    strip = lambda r: json.loads(json.dumps([(e["final"], e["size"]) for e in r["models"]]))  # noqa: E731
    assert strip(resumed) == strip(finished)
    stage = lambda b: RunDir(os.path.join(b, finished["models"][-1]["path"]), None)  # noqa: E731
    assert stage(str(tmp_path)).read_metrics() == stage(base).read_metrics()


@pytest.mark.parametrize("changes, message", [
    (dict(bits=0), "--bits=0 is not allowed"),
    (dict(bits=33), "--bits=33 is not allowed"),
    (dict(keep=0.0), "--keep=0.0 is not allowed"),
    (dict(keep=1.5), "--keep=1.5 is not allowed"),
    (dict(method="svd"), "--method='svd' is not allowed"),
    (dict(quant_method="lloyd"), "--quant_method='lloyd' is not allowed"),
    (dict(bits=1, quant_method="uniform"), "--bits=1 --quant_method=uniform"),
    (dict(method="qat", bits=32), "--bits=32 is not allowed with method qat: tfmot's quantization-aware training "
                                  "quantizes weights to 2 to 8 bits"),
    (dict(method="qat", bits=1), "--bits=1 is not allowed with method qat"),
    (dict(ranks=("fc_1",)), "write layer:rank"),
    (dict(rho=0.0), "--rho=0.0 is not allowed"),
    (dict(quant_every=0), "--quant_every=0 is not allowed"),
])
def test_bad_settings_name_the_flag(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        dataclasses.replace(CONFIG, **changes)


def test_a_rank_above_full_rank_fails_before_anything_is_written(tmp_path):
    config = dataclasses.replace(CONFIG, method="alr", ranks=("output:11",))
    with pytest.raises(ConfigError, match="rank 11 is above the full rank 10"):
        AtmcPipeline(config, str(tmp_path)).run()
    unknown = dataclasses.replace(CONFIG, method="alr", ranks=("fc_9:2",))
    with pytest.raises(ConfigError, match="--ranks names 'fc_9'"):
        AtmcPipeline(unknown, str(tmp_path)).run()
    assert not os.path.exists(os.path.join(tmp_path, "dense"))
