"""A run or stage that fails (a diverged loss, late) leaves the directory as it was: no config.json,
no tb/, no temporary file of a half-written stage; what a killed run left stays, to resume from."""
import dataclasses
import json
import os
import subprocess
import sys

import pytest

from tfrobust.errors import TfrobustError
from tfrobust.training import Hook, TrainConfig, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = "synthetic:image_shape=10x10x1,train_size=400,test_size=100,noise_std=0.6"
TRAIN = TrainConfig(dataset=DATA, model="dense-300-100", valid_size=100, batch_size=20, eval_batch_size=100,
                    train_iters=10, eval_every=5, objective="natural")
DIVERGING = dict(optimizer="sgd", learning_rate=1e6, momentum=0.0)


def files_under(path):
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


def test_a_run_that_diverges_leaves_nothing(tmp_path):
    with pytest.raises(TfrobustError, match="the training loss (diverged|became)"):
        train(dataclasses.replace(TRAIN, **DIVERGING), str(tmp_path / "base"))
    assert not os.path.exists(tmp_path / "base")  # not even the directories it made


class _Fails(Hook):
    def __init__(self, at, error):
        self.at, self.error = at, error

    def after_step(self, trainer, step):
        if step == self.at:
            raise self.error


def test_a_failed_attempt_keeps_what_was_there_and_a_kill_keeps_everything(tmp_path):
    """Killed at iteration 7 (after the checkpoint at 5): all of it stays. The resumed attempt fails
    at 9: what the killed one left stays, and a third attempt resumes from it to the end."""
    base = str(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(TRAIN, base, hooks=[_Fails(7, KeyboardInterrupt())])
    (run_id,) = os.listdir(tmp_path / "train")
    run = tmp_path / "train" / run_id
    killed = files_under(run)
    assert {"config.json", "metrics.jsonl", "checkpoints/checkpoint"} <= set(killed)
    assert any(f.startswith("tb/") for f in killed) and ".lock" not in killed
    with pytest.raises(TfrobustError, match="late"):
        train(TRAIN, base, hooks=[_Fails(9, TfrobustError("a fault found late"))])
    assert {f for f in files_under(run) if not f.startswith("tb/")} == {f for f in killed if not f.startswith("tb/")}
    results = train(TRAIN, base, hooks=[_Fails(99, None)])
    assert results["resumed_from"] == 5 and results["final"]["step"] == 10
    with pytest.raises(TfrobustError, match="late"):  # --force wipes the run, so a failure leaves it empty
        train(TRAIN, base, force=True, hooks=[_Fails(9, TfrobustError("a fault found late"))])
    assert files_under(run) == []


def test_an_admm_pipeline_whose_retraining_diverges_leaves_no_half_written_stage(tmp_path):
    from tfrobust.pruning.admm_config import AdmmConfig
    from tfrobust.pruning.admm_pipeline import AdmmPipeline

    config = AdmmConfig(prune_ratios=("hidden_1:0.9", "hidden_2:0.5"), pretrain_iters=5, admm_iters=4,
                        admm_every=2, retrain_iters=10, retrain_optimizer="sgd", retrain_learning_rate=1e6,
                        train=dataclasses.replace(TRAIN, train_iters=5))
    pipeline = AdmmPipeline(config, str(tmp_path))
    with pytest.raises(TfrobustError, match="the training loss (diverged|became)"):
        pipeline.run()
    assert not os.path.exists(tmp_path / "admm")  # the root and its retraining stage: config.json, tb/
    for finished in ("pretrain", "admm_stage"):  # the stages before it finished: they stay, whole
        (run_id,) = os.listdir(tmp_path / finished)
        assert os.path.exists(tmp_path / finished / run_id / "results.json")


def test_an_atmc_pipeline_whose_later_stage_diverges_leaves_no_half_written_stage(tmp_path, monkeypatch):
    from tfrobust.compression.atmc import AtmcPipeline
    from tfrobust.compression.atmc_config import AtmcConfig

    stage = AtmcConfig.stage
    monkeypatch.setattr(AtmcConfig, "stage", lambda self, name: stage(self, name) if name == "dense" else
                        dataclasses.replace(stage(self, name), **DIVERGING))
    config = AtmcConfig(method="ap", keep=0.1, dense_iters=5, compress_iters=10,
                        train=dataclasses.replace(TRAIN, objective="mix", attack="fgsm:eps=0.1"))
    with pytest.raises(TfrobustError, match="the training loss (diverged|became)"):
        AtmcPipeline(config, str(tmp_path)).run()
    (dense,) = os.listdir(tmp_path / "dense")  # the dense stage before it finished: it stays, whole
    assert os.path.exists(tmp_path / "dense" / dense / "results.json")
    assert [f for f in files_under(tmp_path) if not f.startswith("dense/")] == []  # the root, the fine-tuning


def test_a_gtn_whose_meta_training_diverges_leaves_nothing(tmp_path):
    from tfrobust.gtn.config import GTNConfig
    from tfrobust.gtn.meta import MetaTraining, load_splits

    config = GTNConfig(dataset="synthetic:image_shape=8x8x1,num_classes=4,train_size=400,test_size=100,noise_std=0.3",
                       valid_size=100, learner="conv:width=4,layers=1", inner_steps=4, few_steps=2, inner_batch=20,
                       noise_dim=8, generator_hidden=16, generator_channels=8, outer_iters=4, outer_batch=20,
                       valid_every=2, checkpoint_every=2, inner_lr=1e30)
    with pytest.raises(TfrobustError, match="not finite"):
        MetaTraining(config, load_splits(config), str(tmp_path / "base")).run()
    assert not os.path.exists(tmp_path / "base")


def test_an_export_that_fails_to_save_leaves_no_temporary_file(tmp_path):
    """runs.export_plain with saving failing half-way (a full disk): one error line, no file."""
    from tfrobust import models
    from tfrobust.saving import save_model

    save_model(models.build_model("dense-300-100", (10, 10, 1), 10, seed=0), str(tmp_path / "model.keras"))
    out = tmp_path / "out"
    script = (
        "import sys, tf_keras as keras\n"
        "def full_disk(self, path, *a, **k):\n"
        "    open(path, 'wb').write(b'PK half a model')\n"
        "    raise OSError(28, 'No space left on device', path)\n"
        "keras.Model.save = full_disk\n"
        "from runs import common, export_plain\n"
        "common.run(export_plain.main, argv=sys.argv)\n")
    result = subprocess.run([sys.executable, "-c", script, f"--model_path={tmp_path / 'model.keras'}",
                             f"--output={out / 'plain.keras'}"], cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "No space left on device" in errors[0], result.stderr
    assert files_under(out) == []
