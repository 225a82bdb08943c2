"""Iterative magnitude pruning with resets: the lottery-ticket search (Frankle & Carbin; Cosentino
et al., "The Search for Sparse, Robust Neural Networks", seed 003).

Each trial trains round 0 on the full network, prunes the smallest remaining weights, resets the
survivors (:data:`~tfrobust.pruning.config.RESETS`) and trains again, for ``prune_iters`` rounds.
Every round is one :class:`~tfrobust.training.Trainer` run, so it evaluates, checkpoints, writes
TensorBoard events and resumes like any training run. The layout::

    <base_dir>/<reset>/<id>/config.json               the LotteryConfig
                                 results.json         one record per (trial, round); written last
                                 trial_<t>/rewind.npz  the weights reinit_orig rewinds to
                                 trial_<t>/round_<rr>/ a training run directory, plus
                                                        trained.npz (final weights) and
                                                        next_masks.npz (the masks after pruning)

A killed search resumes: finished rounds are skipped, the unfinished one resumes from its checkpoint.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable, Dict, List, Optional

from tfrobust import build, records
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir, attempt
from tfrobust.hparams import study_values
from tfrobust.io import load_arrays, save_arrays_atomic
from tfrobust.layers import get_masks, set_masks
from tfrobust.pruning.config import LotteryConfig
from tfrobust.pruning.magnitude import layer_rates, prune_masks
from tfrobust.training.hooks import Hook
from tfrobust.training.loop import Trainer


def fresh_seed(seed: int, round_index: int) -> int:
    """The initializer seed reinit_rand draws round ``round_index`` of a trial seeded ``seed`` from."""
    return seed + 100_003 * round_index


class _RoundHook(Hook):
    """Sets the weights and masks a round starts from; saves what later rounds need."""

    def __init__(self, search: "LotterySearch", trial: int, round_index: int):
        self.search, self.trial, self.round = search, trial, round_index

    def before_train(self, trainer, start_step: int) -> None:
        if start_step > 0:
            return  # resumed: the checkpoint holds weights and masks
        s, model = self.search, trainer.model
        if self.round == 0:
            if s.config.rewind_iter == 0:
                s.save(trainer, self.trial, None, "rewind.npz", model.get_weights())
            return
        masks = s.load(self.trial, self.round - 1, "next_masks.npz")
        weights = s.reset_weights(trainer, self.trial, self.round)
        model.set_weights(weights)
        set_masks(model, dict(zip(get_masks(model), masks)))  # saved in the order of get_masks

    def after_step(self, trainer, step: int) -> None:
        if self.round == 0 and step == self.search.config.rewind_iter:
            self.search.save(trainer, self.trial, None, "rewind.npz", trainer.model.get_weights())

    def after_train(self, trainer) -> None:
        s, model = self.search, trainer.model
        s.save(trainer, self.trial, self.round, "trained.npz", model.get_weights())
        if self.round + 1 < s.config.rounds:
            masks = prune_masks(model, s.rates, s.config.global_rate, s.config.skip_layers)
            s.save(trainer, self.trial, self.round, "next_masks.npz", list(masks.values()))


class LotterySearch:
    """One lottery experiment: ``LotterySearch(config, base_dir).run()`` -> the results record."""

    def __init__(self, config: LotteryConfig, base_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 wait_for_lock: float = 0.0):
        self.config = config
        self.wait_for_lock = wait_for_lock
        self.progress = progress or (lambda text: None)
        self.log_every = log_every
        self.setup = build.build(config.train, data_dir)
        self.chief = self.setup.chief
        self.root = RunDir.for_config(base_dir, config.reset, config, self.progress, chief=self.chief)
        self._memory: Dict[str, list] = {}  # what this process saved: workers need not read files

    # ---- the state rounds hand to each other ---------------------------------------------
    def path(self, trial: int, round_index: Optional[int], name: str = "") -> str:
        parts = [self.root.path, f"trial_{trial}"]
        if round_index is not None:
            parts.append(f"round_{round_index:02d}")
        return os.path.join(*parts, name)

    def save(self, trainer, trial, round_index, name, arrays) -> None:
        path = self.path(trial, round_index, name)
        if round_index is not None:  # keep only what later rounds of this trial can still ask for
            wanted = {self.path(trial, None, "rewind.npz"), self.path(trial, 0, "trained.npz"),
                      self.path(trial, round_index, "trained.npz")}
            self._memory = {k: v for k, v in self._memory.items() if k in wanted}
        self._memory[path] = [a.copy() for a in arrays]
        if trainer.chief:
            save_arrays_atomic(path, arrays)

    def load(self, trial, round_index, name) -> list:
        path = self.path(trial, round_index, name)
        if path in self._memory:
            return self._memory[path]
        if not os.path.exists(path):
            raise ConfigError(f"{path} is missing: the run directory {self.root.path} is incomplete; "
                              "rerun with --force")
        return load_arrays(path)

    def reset_weights(self, trainer, trial: int, round_index: int) -> list:
        c = self.config
        if c.reset == "reinit_orig":
            if c.orig_reset_source == "trained":
                return self.load(trial, 0, "trained.npz")
            return self.load(trial, None, "rewind.npz")
        if c.reset == "reinit_rand":
            return self.setup.new_model(seed=fresh_seed(trainer.config.seed, round_index)).get_weights()
        return self.load(trial, round_index - 1, "trained.npz")  # reinit_none

    # ---- running -------------------------------------------------------------------------
    def check(self) -> None:
        """Builds the model once: a bad spec or layer name fails before anything is written."""
        model = self.setup.new_model()
        c = self.config
        if c.global_rate is None:
            self.rates = layer_rates(model, c.prune_rate, c.output_prune_rate, c.layer_rate_overrides(),
                                     c.skip_layers)
            check_rounds_leave_weights(get_masks(model), self.rates, c.rounds)
        else:
            if c.layer_prune_rates:
                raise ConfigError("--layer_prune_rates cannot be combined with --global_prune_rate")
            prune_masks(model, global_rate=c.global_rate, skip=c.skip_layers)
            self.rates = None

    def run(self, force: bool = False, trial: Optional[int] = None) -> Dict:
        """Runs (or resumes) the search; returns its results record.

        ``trial``: run only that trial, so that a cluster's job array can spread the trials over
        processes or machines (each holds its trial's lock; the search's results.json is written
        by whichever finishes the last). Until then the record says ``partial`` and holds the
        rounds finished so far."""
        root, c = self.root, self.config
        if root.finished and not force:
            self.progress(f"{root.path} is finished; returning its results (use --force to redo)")
            return root.read_results(records.LOTTERY)
        if trial is not None and not 0 <= trial < c.trials:
            raise ConfigError(f"--trial={trial} is not allowed; this search has trials 0..{c.trials - 1}")
        if trial is not None and force:
            raise ConfigError("--force with --trial would wipe the other trials' work; remove "
                              f"{self.path(trial, None)} to redo one trial")
        self.check()
        t0, done = time.time(), {}
        with attempt(root.path if trial is None else self.path(trial, None), self.wait_for_lock, self.chief,
                     root.wipe if force else None):
            if self.chief:
                root.prepare()
            for t in range(c.trials) if trial is None else [trial]:
                for r in range(c.rounds):
                    done[(t, r)] = self.run_round(t, r)
        if self.chief:
            done = {**collect_rounds(root.path, c), **done}
        rounds = [done[key] for key in sorted(done)]
        results = {"kind": "lottery", "config": c.to_dict(), "id": root.id, "rounds": rounds,
                   "seconds": time.time() - t0}
        if len(rounds) < c.trials * c.rounds:
            results["partial"] = True
            trials = len({rec["trial"] for rec in rounds if rec["round"] == c.rounds - 1})
            self.progress(f"{trials} of {c.trials} trials finished; results.json comes with the last")
        elif self.chief:
            root.write_results(results)
        return results

    def run_round(self, trial: int, r: int) -> Dict:
        c = self.config
        train = dataclasses.replace(c.train, seed=c.train.seed + trial, experiment=c.reset)
        label = f"[trial {trial + 1}/{c.trials} round {r + 1}/{c.rounds}]"
        trainer = Trainer(self.setup.with_config(train), RunDir(self.path(trial, r), train),
                          hooks=[_RoundHook(self, trial, r)], log_every=self.log_every,
                          hparams={"trial": trial, "round": r, **study_values(c, "lottery")},
                          progress=lambda text: self.progress(f"{label} {text}"))
        results = trainer.run()
        record = round_record(trainer.run_dir.read_metrics(), results)
        record.update(trial=trial, round=r)
        final = record["final"]["test"]
        self.progress(f"{label} done: {100 * record['remaining']:.1f}% of weights remain; test " +
                      ", ".join(f"{name} {v['accuracy']:.4f}" for name, v in final.items()) +
                      f"; early stop at {record['early_stop']['step']}")
        return record


def collect_rounds(root: str, config: LotteryConfig) -> Dict:
    """``(trial, round) -> round record`` of every finished round under a search's directory."""
    out = {}
    for trial in range(config.trials):
        for r in range(config.rounds):
            run_dir = RunDir(os.path.join(root, f"trial_{trial}", f"round_{r:02d}"), config.train)
            if run_dir.finished:
                out[(trial, r)] = {**round_record(run_dir.read_metrics(), run_dir.read_results(records.ROUND_RUN)),
                                   "trial": trial, "round": r}
    return out


def check_rounds_leave_weights(masks: Dict, rates: Dict[str, float], rounds: int) -> None:
    """Refuses per-layer rates that would prune a layer to no weights within ``rounds`` rounds."""
    for name, mask in masks.items():
        remaining = int(mask.sum())
        for r in range(1, rounds):
            remaining -= int(round(rates.get(name, 0.0) * remaining))
            if remaining == 0:
                raise ConfigError(f"pruning {name} by {rates[name]} per round leaves it no weights at round {r} "
                                  f"of {rounds}: lower its rate or --prune_iters")


def round_record(metrics: List[Dict], results: Dict) -> Dict:
    """What the analysis needs of one round: remaining weights, final and early-stopping metrics
    (the evaluation with the lowest natural validation loss; the test split if there is no
    validation), and the accuracy curve."""
    final = results["final"]
    split = "valid" if "valid" in final else "test"
    best = min(metrics, key=lambda m: (m[split]["natural"]["loss"], m["step"]))
    keep = ("valid", "test")
    return {
        "remaining": final["weights"]["total"]["fraction"],
        "weights": final["weights"],
        "final": {k: final[k] for k in keep if k in final},
        "checks": final.get("checks"),
        "early_stop": {"step": best["step"], "split": split, **{k: best[k] for k in keep if k in best}},
        "curve": [{"step": m["step"], **{k: m[k] for k in keep if k in m}} for m in metrics],
    }


def run_lottery(config: LotteryConfig, base_dir: str, data_dir: Optional[str] = None, force: bool = False,
                progress: Optional[Callable[[str], None]] = None, log_every: int = 100) -> Dict:
    """Runs (or resumes, or returns) the lottery experiment ``config`` under ``base_dir``."""
    return LotterySearch(config, base_dir, data_dir, progress, log_every).run(force=force)
