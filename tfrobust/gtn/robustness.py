"""Seed 004's test: are learners taught by a GTN less robust than learners trained normally?

    study = RobustnessStudy(config, gtn_dir)
    report = study.run()          # trains, tests, writes table.md and robustness.png; resumable

For each learner architecture and each seed, three learners start from the same weights: trained
by the GTN's first ``few_steps`` inner steps (``gtn_few``), by all its steps (``gtn_all``), and
normally (``vanilla``: Adam at ``vanilla_lr`` for ``vanilla_epochs`` epochs of real data in batches
of ``vanilla_batch``). An architecture is kept only if every mode's mean clean test accuracy over
the seeds exceeds ``threshold`` (the report kept 2 of 9). Each kept learner is then tested on the
test set, over a grid of strengths beta per test (all clipped to [0, 1]):

* ``noise``: Gaussian noise of standard deviation beta (``gaussian_noise``), on ``corruption_examples``;
* ``blur``: a Gaussian blur of standard deviation beta pixels (``gaussian_blur``), likewise;
* ``ifgsm``: ``ifgsm_steps`` steps of ``x <- clip(x + beta sign(grad))`` (``iterated_fgsm``), on
  ``attack_examples``;
* ``lbfgs``: ``lbfgs_steps`` steps of gradient ascent on CE - (1/beta) ||x - x0|| at rate
  ``lbfgs_lr`` (``lbfgs``), likewise;

and, beside the paper's tests, AutoAttack (``autoattack``, an L-infinity ball) on ``attack_examples``.

beta = 0 in any grid stands for the clean input (no attack is run for it).
The run directory is ``<gtn_dir>/robustness/<id>/``: ``clean/<learner>.json`` (every mode and seed's
clean accuracy), ``tests/<learner>/<mode>_seed<k>.json`` (one learner's accuracies), then
``table.md``, ``robustness.png`` and, last, ``results.json`` (the whole report).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust import attacks, records
from tfrobust.config import Config, field
from tfrobust.errors import ConfigError, DataError
from tfrobust.experiment import RunDir, StagedRun
from tfrobust.gtn import learning
from tfrobust.gtn.config import GTNConfig
from tfrobust.gtn.learners import make_learner
from tfrobust.gtn.meta import load_splits, seed_of
from tfrobust.gtn.teacher import Teacher
from tfrobust.io import write_json_atomic

MODES = ("vanilla", "gtn_few", "gtn_all")
TESTS = ("noise", "blur", "ifgsm", "lbfgs")
ROBUSTNESS_SALT = 9


@dataclasses.dataclass(frozen=True)
class RobustnessConfig(Config):
    learners: str = field("linear mlp:width=128 conv:width=32,layers=2 conv:width=64,layers=2 conv:width=16,layers=3",
                          "Learner specs to test, separated by spaces (see runs.gtn --learner).")
    seeds: int = field(5, "Learners per architecture and training mode.")
    threshold: float = field(0.7, "Keep an architecture only if each mode's mean clean test accuracy exceeds this.")
    vanilla_lr: float = field(0.005, "Adam learning rate of the normally trained learners.")
    vanilla_epochs: int = field(1, "Epochs of real data the normally trained learners see.")
    vanilla_batch: int = field(128, "Batch size of the normally trained learners.", kind="size")
    noise_betas: Tuple[float, ...] = field((0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6),
                                           "Standard deviations of the Gaussian noise test.")
    blur_betas: Tuple[float, ...] = field((0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0),
                                          "Standard deviations (pixels) of the Gaussian blur test.")
    ifgsm_betas: Tuple[float, ...] = field((0.0, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02),
                                           "Step sizes of the iterated FGSM test.")
    lbfgs_betas: Tuple[float, ...] = field((0.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0),
                                           "Distance weights 1/beta of the L-BFGS-style attack test (0: clean).")
    ifgsm_steps: int = field(30, "Steps of the iterated FGSM test.")
    lbfgs_steps: int = field(30, "Steps of the L-BFGS-style attack test.")
    lbfgs_lr: float = field(0.002, "Step rate of the L-BFGS-style attack.")
    autoattack: str = field("autoattack:eps=0.02", "AutoAttack spec (L-infinity) of each kept learner's robust test "
                                                   "accuracy, beside the paper's tests, on --attack_examples ('': "
                                                   "none).")
    corruption_examples: int = field(10000, "Test examples of the noise and blur tests (0: all).", kind="size")
    attack_examples: int = field(1000, "Test examples of the iterated FGSM and L-BFGS tests (0: all).", kind="size")
    seed: int = field(0, "Seed of the learners' weights, the vanilla shuffles and the noise.", kind="seed")

    def __post_init__(self):
        self.check_bounds()
        if not self.specs:
            self.bad("learners", "give at least one learner spec")
        for spec in self.specs:
            try:
                make_learner(spec)
            except ConfigError as e:
                raise ConfigError(f"--learners={spec}: {e}") from None
        if len(set(self.specs)) != len(self.specs):
            self.bad("learners", "each learner may be given once")
        self.check_integers(("seeds", "vanilla_epochs", "vanilla_batch", "ifgsm_steps", "lbfgs_steps"), minimum=1)
        self.check_integers(("corruption_examples", "attack_examples", "seed"), minimum=0)
        if not 0 <= self.threshold < 1:
            self.bad("threshold", "it must be in [0, 1)")
        for name in ("vanilla_lr", "lbfgs_lr"):
            if not 0 < getattr(self, name) < float("inf"):
                self.bad(name, "it must be a positive number")
        if self.autoattack:
            attacks.from_spec(self.autoattack, "autoattack")
        for test in TESTS:
            betas = getattr(self, f"{test}_betas")
            if not betas:
                self.bad(f"{test}_betas", "give at least one value")
            bad = [b for b in betas if not (0 <= b < float("inf"))]
            if bad:
                raise ConfigError(f"--{test}_betas={','.join(map(str, betas))}: {bad[0]} is not allowed; "
                                  "every beta must be a finite number >= 0")
            if list(betas) != sorted(set(betas)):
                self.bad(f"{test}_betas", "give increasing values, each once")

    def check_fits(self, splits, inner_batch: int) -> None:
        """Refuses, naming the flags, learners (trained on ``splits``' images, in batches of
        ``inner_batch`` on a GTN's) and shuffles that need more than this machine's memory."""
        needs = [("the vanilla learners' shuffles", 8 * self.vanilla_epochs * splits.train_size, ("vanilla_epochs",))]
        for spec in self.specs:
            weights, example = make_learner(spec).footprint(splits.input_shape, splits.num_classes)
            needs.append((f"learner {spec}", 4 * (4 * weights + max(self.vanilla_batch, inner_batch) * example),
                          ("learners", "vanilla_batch")))
        self.check_memory(needs)

    @property
    def specs(self) -> Tuple[str, ...]:
        """The learner specs of ``learners``."""
        return tuple(self.learners.split())

    def attack(self, test: str, beta: float):
        """The attack of ``test`` at strength ``beta`` (None for beta = 0: the clean input)."""
        if beta == 0:
            return None
        if test == "noise":
            return attacks.make_attack("gaussian_noise", std=beta)
        if test == "blur":
            return attacks.make_attack("gaussian_blur", std=beta)
        if test == "ifgsm":
            return attacks.make_attack("iterated_fgsm", step_size=beta, steps=self.ifgsm_steps)
        return attacks.make_attack("lbfgs", beta=beta, lr=self.lbfgs_lr, steps=self.lbfgs_steps)


def _safe(spec: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", spec)


def resolve_gtn_dir(path: str) -> str:
    """``path`` if it is a GTN run directory, else the one run directory below it (``<base>/<experiment>``)."""
    if os.path.isfile(os.path.join(path, "config.json")) or not os.path.isdir(path):
        return path
    runs = sorted(d for d in os.listdir(path) if os.path.isfile(os.path.join(path, d, "config.json")))
    if len(runs) == 1:
        return os.path.join(path, runs[0])
    if len(runs) > 1:
        raise ConfigError(f"--gtn_dir={path} holds {len(runs)} GTN runs ({', '.join(runs)}); name one of them")
    return path


def load_gtn(gtn_dir: str) -> GTNConfig:
    """The config of the finished GTN run in ``gtn_dir`` (one clear error if there is none)."""
    if not os.path.exists(gtn_dir):
        raise DataError(f"--gtn_dir={gtn_dir} does not exist; train a GTN with tfrobust-gtn (python -m runs.gtn) first")
    config_path = os.path.join(gtn_dir, "config.json")
    if not os.path.isfile(config_path):
        raise DataError(f"--gtn_dir={gtn_dir} is not a GTN run directory (it holds no config.json); train one "
                        "with tfrobust-gtn (python -m runs.gtn)")
    try:
        with open(config_path) as f:
            config = GTNConfig.from_dict(json.load(f))
    except (ValueError, TypeError) as e:
        raise DataError(f"{config_path} does not hold a GTN config ({e})") from None
    if not os.path.isfile(os.path.join(gtn_dir, "results.json")):
        raise DataError(f"the GTN run {gtn_dir} has not finished (no results.json); rerun "
                        "tfrobust-gtn (python -m runs.gtn) with its flags to finish it")
    return config


class RobustnessStudy(StagedRun):
    def __init__(self, config: RobustnessConfig, gtn_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None):
        self.config = config
        self.gtn_dir = gtn_dir = resolve_gtn_dir(gtn_dir)
        self.progress = progress or (lambda text: None)
        self.gtn = load_gtn(gtn_dir)
        if self.gtn.ablation == "real_data":
            raise ConfigError(f"the GTN in {gtn_dir} was trained with --ablation=real_data: it has no generator to "
                              "teach learners with")
        self.splits = load_splits(self.gtn, data_dir)
        config.check_fits(self.splits, self.gtn.inner_batch)
        self.teacher = Teacher(self.gtn, self.splits.input_shape, self.splits.num_classes)
        self.teacher.restore(gtn_dir)
        for spec in config.specs:
            make_learner(spec).init([0, 0], self.splits.input_shape, self.splits.num_classes)  # shapes fit
        for test in TESTS:
            for beta in getattr(config, f"{test}_betas"):
                attack = config.attack(test, beta)
                if attack is not None and hasattr(attack, "check_input"):
                    attack.check_input(self.splits.input_shape)
        self.run_dir = self.root = RunDir.for_config(gtn_dir, "robustness", config, progress=self.progress)
        self.x_test, self.y_test = learning.arrays_of(self.splits.test)

    # -- learners -----------------------------------------------------------------------------

    def learner(self, spec: str, mode: str, k: int):
        """``(arch, state)`` of learner ``k`` of ``spec`` trained in ``mode`` (deterministic)."""
        index = self.config.specs.index(spec)
        seed = seed_of(self.config.seed, ROBUSTNESS_SALT, index, k)
        arch = make_learner(spec).sample(seed.numpy().tolist())  # random_width: learner k's own width
        start = arch.init(seed, self.splits.input_shape, self.splits.num_classes)
        if mode == "vanilla":
            x, y = self.splits.train_arrays
            c = self.config
            return arch, learning.normally(arch, start, x, y, seed=int(seed.numpy()[0]) % 2 ** 31, lr=c.vanilla_lr,
                                           epochs=c.vanilla_epochs, batch=c.vanilla_batch)
        xs, ys = self.teacher.batches(tf.random.experimental.stateless_split(seed, 1)[0])
        steps = self.gtn.few_steps if mode == "gtn_few" else self.gtn.inner_steps
        return arch, learning.on_batches(arch, start, xs, ys, self.teacher.log_lr, self.teacher.log_momentum, steps)

    def clean_accuracies(self, spec: str) -> Dict[str, list]:
        path = os.path.join(self.run_dir.path, "clean", _safe(spec) + ".json")
        kept, problem = records.read_cache(path, records.GTN_CLEAN)
        if kept is not None:
            return kept
        if problem:
            self.progress(f"{path} {problem}; measuring again")
        out = {}
        for mode in MODES:
            out[mode] = []
            for k in range(self.config.seeds):
                arch, state = self.learner(spec, mode, k)
                out[mode].append(learning.accuracy(arch, state, self.x_test, self.y_test))
            self.progress(f"{spec} {mode}: clean test accuracy {np.mean(out[mode]):.4f} "
                          f"(+- {np.std(out[mode]):.4f} over {self.config.seeds} seeds)")
        write_json_atomic(path, out)
        return out

    def tests(self, spec: str, mode: str, k: int) -> Dict:
        """One learner's accuracy on every test and beta (cached in its json file)."""
        from tfrobust.evaluation import evaluate

        path = os.path.join(self.run_dir.path, "tests", _safe(spec), f"{mode}_seed{k}.json")
        kept, problem = records.read_cache(path, records.GTN_TESTS)
        if kept is not None:
            return kept
        if problem:
            self.progress(f"{path} {problem}; measuring again")
        c = self.config
        arch, state = self.learner(spec, mode, k)
        model = learning.LearnerModel(arch, state, self.splits.num_classes)
        record = {"clean": learning.accuracy(arch, state, self.x_test, self.y_test)}
        for test in TESTS:
            n = c.corruption_examples if test in ("noise", "blur") else c.attack_examples
            n = n or len(self.y_test)
            named = {f"{test}_{j}": c.attack(test, beta) for j, beta in enumerate(getattr(c, f"{test}_betas"))}
            named = {key: a for key, a in named.items() if a is not None}
            dataset = tf.data.Dataset.from_tensor_slices((self.x_test[:n], self.y_test[:n])).batch(1000)
            results = evaluate(model, dataset, named, seed=c.seed, checks=False, timing=False)
            record[test] = [results["natural"]["accuracy"] if beta == 0 else results[f"{test}_{j}"]["accuracy"]
                            for j, beta in enumerate(getattr(c, f"{test}_betas"))]
        if c.autoattack:
            n = c.attack_examples or len(self.y_test)
            dataset = tf.data.Dataset.from_tensor_slices((self.x_test[:n], self.y_test[:n])).batch(1000)
            results = evaluate(model, dataset, {"autoattack": attacks.from_spec(c.autoattack)}, seed=c.seed,
                               checks=False, timing=False)
            record["autoattack"] = results["autoattack"]["accuracy"]
        write_json_atomic(path, record)
        return record

    # -- the run ------------------------------------------------------------------------------

    def run_stages(self) -> None:
        self.report = self._run()

    def results(self, seconds: float) -> Dict:
        """table.md and robustness.png, then the report (written last, by :meth:`StagedRun.run`)."""
        from tfrobust.analysis import gtn as plots

        report = dict(self.report, seconds=seconds)
        plots.write_report(report, self.run_dir.path)
        return report

    def _run(self) -> Dict:
        c = self.config
        learners = {}
        for spec in c.specs:
            clean = self.clean_accuracies(spec)
            means = {mode: float(np.mean(accs)) for mode, accs in clean.items()}
            kept = all(m > c.threshold for m in means.values())
            learners[spec] = {"kept": kept, "clean_mean": means, "modes": {}}
            if not kept:
                self.progress(f"{spec}: dropped (a mode's mean clean accuracy is at most {c.threshold})")
                continue
            for mode in MODES:
                learners[spec]["modes"][mode] = [self.tests(spec, mode, k) for k in range(c.seeds)]
                self.progress(f"{spec} {mode}: tested {c.seeds} learners")
        return {"final": {spec: entry["clean_mean"] for spec, entry in learners.items()},
                "learners": learners, "betas": {t: list(getattr(c, f"{t}_betas")) for t in TESTS},
                "few_steps": self.gtn.few_steps, "inner_steps": self.gtn.inner_steps,
                "gtn_run": os.path.basename(os.path.normpath(self.gtn_dir)),
                "gtn_ablation": self.gtn.ablation, "autoattack": c.autoattack,
                "steps": {"ifgsm": c.ifgsm_steps, "lbfgs": c.lbfgs_steps}}
