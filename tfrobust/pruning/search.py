"""A keras-tuner search for ADMM's per-layer prune ratios under a target compression rate.

The reference code sets the ratios by hand. Here a ``keras_tuner`` tuner (:class:`PruneRatioTuner`,
with its own ``run_trial``) samples one ratio per prunable layer; each trial is an ordinary ADMM
pipeline (:class:`~tfrobust.pruning.admm_pipeline.AdmmPipeline`, usually a short schedule), whose
run directories sit beside every other pipeline's and share its pretraining. The objective is the
robust validation accuracy (``valid`` under the first evaluation attack), subject to the
compression rate (dense weights / remaining weights of the pruned layers' whole model):

- a trial whose ratios compress less than ``target`` is *infeasible*: it trains nothing and scores
  ``-(target - compression) / target``, in [-1, 0), below every feasible trial (accuracies are in
  [0, 1]), so the oracle learns where feasibility lies and never ranks it first while a feasible
  trial exists; :func:`best_feasible` returns only feasible trials, and fails if there is none;
- a target that no ratios up to ``max_ratio`` reach fails before anything runs.

Oracles: ``bayesian``, ``hyperband`` and ``random`` (keras-tuner's). Distributed search is
keras-tuner's own: the chief (``KERASTUNER_TUNER_ID=chief``) serves the oracle at
``KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT`` and workers (any other id) run trials; see
:func:`distributed_role`. Each trial's ratios, compression and accuracies also go to TensorBoard's
HParams dashboard (``<base_dir>/hparams/``).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
from typing import Callable, Dict, List, Optional

import numpy as np

from tfrobust.errors import ConfigError, DependencyError, TfrobustError
from tfrobust.pruning.admm_config import AdmmConfig
from tfrobust.pruning.projections import check_leaves_some, removed_count, unit_shape

try:
    import keras_tuner as kt
except ImportError as _e:  # the optional extra tfrobust[tune]
    raise DependencyError(f"the prune-ratio search needs keras-tuner ({_e}); install it with "
                          "pip install 'tfrobust[tune]'") from None

ORACLES = ("bayesian", "hyperband", "random")
OBJECTIVE = "robust_accuracy"


def kept_weights(units: Dict[str, tuple], ratios: Dict[str, float]) -> Dict[str, int]:
    """Layer -> weights kept at ``ratios``; ``units[layer] = (units, weights per unit)`` (a layer's
    structure under its sparsity: single weights, filters or columns)."""
    return {name: (n - removed_count(n, ratios.get(name, 0.0))) * size for name, (n, size) in units.items()}


def compression_of(units: Dict[str, tuple], ratios: Dict[str, float]) -> float:
    """Dense weights / kept weights over every prunable layer."""
    total = sum(n * size for n, size in units.values())
    return total / max(sum(kept_weights(units, ratios).values()), 1)


def layer_units(model, sparsity: str) -> Dict[str, tuple]:
    """Prunable layer -> ``(units, weights per unit)`` under ``sparsity``."""
    from tfrobust.layers.compressible import prunable_variables

    return {p.name: unit_shape(tuple(p.variable.shape), sparsity) for p in prunable_variables(model)}


def check_target(units: Dict[str, tuple], layers: List[str], target: float, max_ratio: float,
                 min_ratio: float = 0.01, sparsity: str = "irregular") -> float:
    """The highest compression the searched ``layers`` reach at ``max_ratio``; fails below ``target``,
    and where ``max_ratio`` would leave a layer no weight (its ``sparsity`` units all removed)."""
    if not (target >= 1 and np.isfinite(target)):
        raise ConfigError(f"--target_compression={target!r} is not allowed; it must be a finite number >= 1")
    if not 0.0 < max_ratio < 1.0:
        raise ConfigError(f"--max_ratio={max_ratio!r} is not allowed; it must be in (0, 1)")
    if not 0.0 < min_ratio < max_ratio:
        raise ConfigError(f"--min_ratio={min_ratio!r} is not allowed; it must be in (0, --max_ratio)")
    for name in layers:
        check_leaves_some(name, units[name][0], sparsity, max_ratio, "max_ratio")
    best = compression_of(units, {name: max_ratio for name in layers})
    if best < target:
        raise ConfigError(f"--target_compression={target:g} cannot be reached: pruning "
                          f"{', '.join(layers)} at --max_ratio={max_ratio:g} compresses {best:.3g}x at most")
    return best


def make_oracle(name: str, max_trials: int, seed: int, hyperband_iters: int = 3):
    """keras-tuner's oracle ``name`` maximising :data:`OBJECTIVE`, seeded by ``seed + 1`` (keras-tuner
    takes a seed of 0 for none and draws one: the search would not repeat). Bayesian optimisation
    starts from a quarter of the trials drawn at random (at least 2; keras-tuner's default, 3 per
    hyperparameter, would leave a short search no model-guided trial)."""
    objective = kt.Objective(OBJECTIVE, direction="max")
    common = dict(objective=objective, seed=seed + 1, max_consecutive_failed_trials=max_trials + 1)
    if name == "bayesian":
        if importlib.util.find_spec("sklearn") is None:
            raise DependencyError("the bayesian oracle needs scikit-learn; install it with pip install 'tfrobust[tune]'")
        return kt.oracles.BayesianOptimizationOracle(max_trials=max_trials, num_initial_points=max(2, max_trials // 4),
                                                     **common)
    if name == "random":
        return kt.oracles.RandomSearchOracle(max_trials=max_trials, **common)
    if name == "hyperband":  # the budget is the retraining length, in units of the template's
        return kt.oracles.HyperbandOracle(max_epochs=hyperband_iters, factor=3, hyperband_iterations=1, **common)
    raise ConfigError(f"--oracle={name!r} is not allowed; allowed: {', '.join(ORACLES)}")


def distributed_role() -> Optional[str]:
    """``chief``, ``worker`` or None (not distributed), from keras-tuner's environment variables."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if not os.environ.get(name):
            raise ConfigError(f"KERASTUNER_ORACLE_IP is set but {name} is not: a distributed search needs "
                              "KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


class PruneRatioTuner(kt.engine.base_tuner.BaseTuner):
    """keras-tuner's tuner of the prune ratios: one ``ratio/<layer>`` hyperparameter per searched
    layer in [0, ``max_ratio``]; ``run_trial`` runs one ADMM pipeline (see the module docstring).
    ``setup`` reuses a built setup's strategy and data; ``units`` is :func:`layer_units`."""

    def __init__(self, oracle, template: AdmmConfig, base_dir: str, target: float, units: Dict[str, tuple],
                 layers: List[str], max_ratio: float = 0.99, min_ratio: float = 0.01, setup=None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 wait_for_lock: float = 3600.0, overwrite: bool = False):
        self.template, self.base_dir, self.target = template, base_dir, target
        self.units, self.layers, self.max_ratio, self.min_ratio = units, layers, max_ratio, min_ratio
        self.setup, self.progress = setup, progress or (lambda text: None)
        self.log_every, self.wait_for_lock = log_every, wait_for_lock
        self.ran: List[str] = []  # the trials this process ran
        super().__init__(oracle=oracle, directory=os.path.join(base_dir, "tuner"), project_name="prune_ratios",
                         overwrite=overwrite)
        hp = self.oracle.get_space()
        self.declare(hp)
        self.oracle.update_space(hp)

    def declare(self, hp) -> None:
        """A ratio per layer in [min_ratio, max_ratio], drawn densest near ``max_ratio`` (keras-tuner's
        ``reverse_log`` sampling): high compression needs high ratios on the large layers."""
        for name in self.layers:
            hp.Float(f"ratio/{name}", self.min_ratio, self.max_ratio, sampling="reverse_log")

    def reload(self):
        """keras-tuner's reload, made exact after a kill: a trial saved as running that the oracle's
        state does not list (killed between the trial's file and the oracle's) is retried with its
        own values, and its values count as tried, so that the next draw is what it would have
        been without the kill."""
        super().reload()
        oracle = self.oracle
        if not hasattr(oracle, "_retry_queue"):
            return  # a worker's proxy: the chief's oracle holds the state
        for trial_id, trial in sorted(oracle.trials.items()):
            if trial.status == kt.engine.trial.TrialStatus.RUNNING and trial_id not in oracle._retry_queue:
                oracle._retry_queue.append(trial_id)
                oracle._record_values(trial)

    def search(self, *args, **kwargs):
        """keras-tuner's search; a trial's configuration error stops it as that error."""
        try:
            return super().search(*args, **kwargs)
        except kt.errors.FatalError as e:
            raise TfrobustError(str(e)) from None

    def ratios(self, hp) -> Dict[str, float]:
        return {name: round(float(hp.get(f"ratio/{name}")), 4) for name in self.layers}

    def config(self, ratios: Dict[str, float], budget: float = 1.0) -> AdmmConfig:
        iters = max(1, int(round(self.template.retrain_iters * budget)))
        return dataclasses.replace(self.template, prune_ratios=tuple(f"{n}:{r!r}" for n, r in ratios.items()),
                                   prune_ratio=0.0, retrain_iters=iters)

    def run_trial(self, trial, *args, **kwargs):
        from tfrobust.pruning.admm_pipeline import AdmmPipeline

        hp = trial.hyperparameters
        self.ran.append(trial.trial_id)
        ratios = self.ratios(hp)
        compression = compression_of(self.units, ratios)
        metrics = {"compression": compression}
        if compression < self.target:
            self.progress(f"[trial {trial.trial_id}] infeasible: compression {compression:.2f}x < {self.target:g}x")
            metrics.update({OBJECTIVE: -(self.target - compression) / self.target, "feasible": 0.0})
            self._hparams(trial.trial_id, ratios, metrics)
            return metrics
        budget = hp.values.get("tuner/epochs", 0) / max(self.oracle_max_epochs(), 1) or 1.0
        config = self.config(ratios, budget)
        try:
            results = AdmmPipeline(config, self.base_dir, setup=self.setup, log_every=self.log_every,
                                   wait_for_lock=self.wait_for_lock,
                                   progress=lambda text: self.progress(f"[trial {trial.trial_id}] {text}")).run()
        except TfrobustError as e:
            raise kt.errors.FatalError(str(e)) from None
        final = results["final"]
        split = "valid" if "valid" in final else "test"
        attack = next(name for name in final[split] if name != "natural")
        metrics.update({OBJECTIVE: final[split][attack]["accuracy"], "feasible": 1.0,
                        "natural_accuracy": final[split]["natural"]["accuracy"],
                        "test_robust_accuracy": final["test"][attack]["accuracy"],
                        "test_natural_accuracy": final["test"]["natural"]["accuracy"]})
        self.progress(f"[trial {trial.trial_id}] compression {compression:.2f}x, valid {attack} "
                      f"{metrics[OBJECTIVE]:.4f} ({os.path.join(self.base_dir, 'admm', results['id'])})")
        self._hparams(trial.trial_id, ratios, {**metrics, "run": results["id"]})
        return metrics

    def oracle_max_epochs(self) -> int:
        return getattr(self.oracle, "max_epochs", 0) or 0

    def _hparams(self, trial_id: str, ratios: Dict[str, float], metrics: Dict) -> None:
        from tfrobust.hparams import write_trial

        write_trial(os.path.join(self.base_dir, "hparams", f"trial_{trial_id}"), trial_id,
                    {f"ratio/{n}": r for n, r in ratios.items()}, metrics)


def _ranked(oracle) -> List:
    """The completed trials, best objective first, ties by trial id."""
    trials = oracle.get_best_trials(len(oracle.trials))
    return sorted(trials, key=lambda t: (-t.metrics.get_last_value(OBJECTIVE), t.trial_id))


def best_feasible(oracle, n: int = 1) -> List:
    """The ``n`` best completed trials that reach the target (``feasible`` = 1), ties by trial id (as
    after a resume, whatever order keras-tuner reloads them in); fails if none does."""
    trials = [t for t in _ranked(oracle)
              if t.metrics.exists("feasible") and t.metrics.get_last_value("feasible") == 1.0]
    if not trials:
        raise ConfigError("no trial reached the target compression: raise --max_trials or --max_ratio, "
                          "or lower --target_compression")
    return trials[:n]


def trial_rows(oracle, layers: List[str]) -> List[Dict]:
    """One row per completed trial: id, feasibility, compression, objective and ratios, best first."""
    rows = []
    for t in _ranked(oracle):
        m = t.metrics
        get = lambda k: m.get_last_value(k) if m.exists(k) else None  # noqa: E731
        rows.append({"trial": t.trial_id, "feasible": bool(get("feasible")), "compression": get("compression"),
                     OBJECTIVE: get(OBJECTIVE), "test_robust_accuracy": get("test_robust_accuracy"),
                     **{n: t.hyperparameters.get(f"ratio/{n}") for n in layers}})
    return rows


def ratios_flagfile(ratios: Dict[str, float], comment: str) -> str:
    """A flagfile ``runs.admm`` takes: the ratios, after a comment line."""
    return f"# {comment}\n--prune_ratios={','.join(f'{n}:{r!r}' for n, r in ratios.items())}\n"


def uniform_ratio(units: Dict[str, tuple], layers: List[str], compression: float) -> float:
    """The one ratio for every layer in ``layers`` whose compression is closest to ``compression``
    (bisection on the exact counts)."""
    low, high = 0.0, 0.999999
    for _ in range(60):
        mid = (low + high) / 2
        if compression_of(units, {name: mid for name in layers}) < compression:
            low = mid
        else:
            high = mid
    return round(high, 6)


def compare_uniform(tuner: PruneRatioTuner, ratios: Dict[str, float], compression: float,
                    progress: Optional[Callable[[str], None]] = None, final_attacks: Optional[Dict] = None,
                    final_examples: int = 0) -> List[Dict]:
    """The searched ratios against one uniform ratio at the same compression: the full pipeline of
    each (the template's schedule), natural and robust accuracy on validation and test, and under
    ``final_attacks`` on the first ``final_examples`` test images."""
    from tfrobust.pruning.admm_pipeline import AdmmPipeline, final_evaluation

    r = uniform_ratio(tuner.units, tuner.layers, compression)
    rows = []
    for label, chosen in (("searched", ratios), (f"uniform {r:g}", {n: r for n in tuner.layers})):
        pipeline = AdmmPipeline(tuner.config(chosen), tuner.base_dir, setup=tuner.setup, log_every=tuner.log_every,
                                wait_for_lock=tuner.wait_for_lock,
                                progress=lambda text, label=label: (progress or (lambda t: None))(f"[{label}] {text}"))
        results = pipeline.run()
        final = results["final"]
        attack = next(name for name in final["test"] if name != "natural")
        row = {"ratios": label, "compression": results["compression"]}
        for split in ("valid", "test"):
            if split in final:
                row[f"{split} natural"] = final[split]["natural"]["accuracy"]
                row[f"{split} {attack}"] = final[split][attack]["accuracy"]
        if final_attacks:
            record = final_evaluation(pipeline.stage_path(results, "retrain"), final_attacks, final_examples,
                                      tuner.setup, tuner.template.train.seed, progress)
            for name in final_attacks:
                row[f"test {name} ({record['examples']})"] = record["results"][name]["accuracy"]
        rows.append(row)
    return rows
