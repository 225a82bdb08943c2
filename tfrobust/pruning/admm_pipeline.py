"""ADMM pruning as one resumable pipeline: pretrain -> ADMM -> hard prune -> masked retraining.

Each stage is a :class:`~tfrobust.training.Trainer` run, so it evaluates, checkpoints, writes
TensorBoard events and resumes like any training run; a finished stage is not redone. The layout::

    <base_dir>/pretrain/<id>/          the pretraining run (shared by every pipeline that pretrains
                                        the same way: the width study's adversarial baseline)
    <base_dir>/admm_stage/<id>/        the ADMM stage's run (Z, U, rho in its checkpoints), shared by
                                        pipelines that differ only in their retraining
    <base_dir>/admm/<id>/config.json   the AdmmConfig
                         retrain/       masked retraining after the hard prune
                         results.json   written last: per-layer weights, compression, accuracies,
                                        the ||W - Z|| curve, and each stage's path (relative to
                                        <base_dir>)

With ``admm_iters=0`` the ADMM stage is skipped: the hard prune of the pretrained weights is
one-shot magnitude pruning (for ``irregular``), then adversarial fine-tuning. With
``retrain_from=init`` retraining starts from the network's initial weights under the pruned
masks (the lottery ticket, the paper's Table 5).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Callable, Dict, List, Optional, Sequence

from tfrobust import attacks, build, records
from tfrobust.config import run_id
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir, StagedRun
from tfrobust.hparams import study_values
from tfrobust.io import path_inside, write_json_atomic
from tfrobust.layers.compressible import prunable_variables
from tfrobust.pruning.admm import Admm, check_ratios, hard_prune_masks
from tfrobust.pruning.admm_config import RETRAINING, AdmmConfig
from tfrobust.training.hooks import Hook, StartFrom
from tfrobust.training.loop import Trainer


class AdmmPipeline(StagedRun):
    """One ADMM pruning run: ``AdmmPipeline(config, base_dir).run()`` -> its results record."""

    results_schema = records.ADMM

    def __init__(self, config: AdmmConfig, base_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 wait_for_lock: float = 0.0, setup=None):
        self.config, self.base_dir = config, base_dir
        self.progress = progress or (lambda text: None)
        self.log_every, self.wait_for_lock = log_every, wait_for_lock
        self.setup = setup.with_config(config.train) if setup is not None else build.build(config.train, data_dir)
        self.chief = self.setup.chief
        self.root = RunDir.for_config(base_dir, "admm", config, self.progress, chief=self.chief)
        self._weights: Dict[str, list] = {}

    def check(self) -> Dict[str, float]:
        """Builds the model once: a bad ratio, layer name or sparsity fails before anything is written."""
        model = self.setup.new_model()
        names = [p.name for p in prunable_variables(model)]
        self.ratios = check_ratios(model, self.config.ratios(names), self.config.sparsity)
        hard_prune_masks(model, self.ratios, self.config.sparsity)  # e.g. filter sparsity on a rank-1 variable
        return self.ratios

    def stage_values(self, name: str) -> Dict:
        """What places stage ``name`` in TensorBoard's HParams table: the settings its directory
        depends on. Pretraining is shared by every pipeline of one training config, the ADMM stage
        by every retraining (so neither names a method)."""
        if name == "pretrain":
            return {"stage": name}
        if name == "admm":
            return {"stage": name, **study_values(self.config, "admm", exclude=RETRAINING)}
        return {"stage": name, "admm/method": self.config.method, **study_values(self.config, "admm")}

    def stage_dir(self, name: str) -> RunDir:
        config = self.config.stage(name)
        if name == "pretrain":
            return RunDir.for_config(self.base_dir, "pretrain", config, self.progress, chief=self.chief)
        if name == "admm":  # named by everything the ADMM stage depends on: the config less its retraining
            defaults = {f.name: f.default for f in dataclasses.fields(AdmmConfig) if f.name in RETRAINING}
            key = dataclasses.replace(self.config, **defaults)
            return RunDir(os.path.join(self.base_dir, "admm_stage", run_id(key)), config)
        return RunDir(os.path.join(self.root.path, name), config)

    def run_stages(self) -> None:
        """Pretraining, ADMM and retraining (``force`` redoes the last two, not a shared pretraining)."""
        c = self.config
        start = self._stage("pretrain", []) if c.pretrain_iters else None
        if c.admm_iters:
            admm = Admm(self.ratios, c.sparsity, c.rho, c.rho_growth, c.admm_every)
            start = self._stage("admm", [StartFrom(start), admm], admm)
        init = self.setup.new_model().get_weights() if c.retrain_from == "init" else None
        masks_of = lambda model: hard_prune_masks(model, self.ratios, c.sparsity)  # noqa: E731
        self._stage("retrain", [StartFrom(start, masks_of, init)])

    def _stage(self, name: str, hooks: List[Hook], admm: Optional[Admm] = None) -> list:
        """Runs stage ``name`` (or returns a finished one); returns its final weights."""
        setup = self.setup.with_config(self.config.stage(name))
        if admm is not None:
            setup = admm.attach(setup)
        label = f"[{self.config.method} {name}]"
        trainer = Trainer(setup, self.stage_dir(name), hooks=hooks, log_every=self.log_every,
                          hparams=self.stage_values(name),
                          progress=lambda text: self.progress(f"{label} {text}"), wait_for_lock=self.wait_for_lock)
        trainer.run(force=self.force and name != "pretrain")
        if hasattr(trainer, "model"):
            return trainer.model.get_weights()
        from tfrobust.saving import load_model

        return load_model(os.path.join(trainer.run_dir.path, "model.keras")).get_weights()

    def stage_path(self, results: Dict, name: str) -> str:
        """The run directory of stage ``name`` that ``results`` (this pipeline's record) names; a
        DataError when the record names none, or one outside ``base_dir``."""
        try:
            path = results["stages"][name]["path"]
        except (KeyError, TypeError):
            raise self.root.damaged(self.root.results_path, f"names no {name} stage") from None
        return path_inside(self.base_dir, path, self.root.results_path)

    def results(self, seconds: float) -> Dict:
        """The record results.json holds (read from the stages' run directories)."""
        c = self.config
        stages = {}
        for name in ("pretrain", "admm", "retrain"):
            if (name == "pretrain" and not c.pretrain_iters) or (name == "admm" and not c.admm_iters):
                continue
            run = self.stage_dir(name)
            stages[name] = {"path": os.path.relpath(run.path, self.base_dir),
                            "final": run.read_results(records.RUN)["final"]}
        final = stages["retrain"]["final"]
        weights = final["weights"]
        curve = []
        if "admm" in stages:  # one point per update
            curve = [u for m in self.stage_dir("admm").read_metrics() for u in m["admm"]["since_last"]]
        return {"kind": "admm", "config": c.to_dict(), "id": self.root.id, "method": c.method,
                "ratios": self.ratios, "layers": {k: v for k, v in weights.items() if k != "total"},
                "compression": compression(weights), "final": final, "stages": stages,
                "residual_curve": curve, "seconds": seconds}


def parse_final_attacks(specs: Sequence[str]) -> Dict:
    """Label -> attack of each ``--final_attack`` spec."""
    return {a.label: a for a in (attacks.from_spec(spec, "final_attack") for spec in specs)}


def final_evaluation(run_path: str, final_attacks: Dict, examples: int, setup, seed: int,
                     progress: Optional[Callable[[str], None]] = None) -> Dict:
    """The run's final model (``model.keras``) under ``final_attacks`` on the first ``examples``
    test images (0: all), with the sanity report: ``{"results", "checks", "examples"}``. Kept in the
    run directory as ``final_<hash of the attacks and examples>.json``, so it is made once."""
    if examples < 0:
        raise ConfigError(f"--final_examples={examples} is not allowed; it must be >= 0 (0: all)")
    key = json.dumps([sorted(final_attacks), examples])
    path = os.path.join(run_path, f"final_{hashlib.sha256(key.encode()).hexdigest()[:12]}.json")
    kept, problem = records.read_cache(path, records.FINAL_EVAL)  # damaged: made again
    if kept is not None:
        missing = [name for name in ("natural", *final_attacks) if name not in kept["results"]]
        if not missing:
            return kept
        problem = f"is not a measurement: results.{missing[0]} is missing"
    from tfrobust.evaluation import evaluate
    from tfrobust.saving import load_model

    say = progress or (lambda text: None)
    if problem:
        say(f"{path} {problem}; evaluating again")
    say(f"evaluating {os.path.join(run_path, 'model.keras')} under {', '.join(final_attacks)}")
    results = evaluate(load_model(os.path.join(run_path, "model.keras")), setup.splits.test, final_attacks,
                       seed=seed, max_examples=examples or None, timing=False)
    record = json.loads(json.dumps({"results": dict(results), "checks": results.checks,
                                    "examples": results["natural"]["examples"]}))
    if setup.chief:
        write_json_atomic(path, record)
    return record


def compression(weights: Dict) -> float:
    """Dense weights / remaining weights, from a :func:`~tfrobust.layers.count_weights` record."""
    total = weights["total"]
    return total["total"] / max(total["remaining"], 1)


def run_admm(config: AdmmConfig, base_dir: str, data_dir: Optional[str] = None, force: bool = False,
             progress: Optional[Callable[[str], None]] = None, log_every: int = 100) -> Dict:
    """Runs (or resumes, or returns) the ADMM pipeline ``config`` under ``base_dir``."""
    return AdmmPipeline(config, base_dir, data_dir, progress, log_every).run(force=force)
