"""Measures a trained zoo (:mod:`tfrobust.flatness.zoo`) the way Stutz et al. (seed 001) do: per model
and through training, clean and robust test error (AutoAttack for the final models), the robust
loss on train and test and its gap, average- and worst-case (robust and clean) flatness and the
robust loss's largest and smallest Hessian eigenvalues; then loss-landscape slices of one model.

    report = FlatnessStudy(MeasureConfig(...), base_dir).run()   # reads <base_dir>/zoo.json

Every measurement of one model at one step is kept as
``<run>/flatness/<settings hash>/step_<N>.json`` when it is complete, so a killed report resumes
with the next model and a report with other settings measures again. The report itself is
``<base_dir>/report.json``, written last.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Dict, List, Optional

from tfrobust import records
from tfrobust.config import Config, field
from tfrobust.errors import ConfigError, DataError
from tfrobust.io import path_inside, write_json_atomic

REFERENCE = "the reference's cifar10_benchmark"


@dataclasses.dataclass(frozen=True)
class MeasureConfig(Config):
    """What runs.flatness_report measures, and on how many examples."""

    examples: int = field(1000, "Test examples (and as many training examples) for the errors and the robust "
                                "losses (the reference: the first 1000 test examples).", kind="size")
    rloss_attack: str = field("pgd:eps=0.1,step_size=0.01,steps=20",
                              "The attack of the robust loss, the robust error and the flatness measures (PGD-20 in "
                              "the paper).")
    final_attack: str = field("autoattack:eps=0.1", "The attack of each final model's robust test error, beside "
                                                    "--rloss_attack's ('' for none).")
    final_examples: int = field(1000, "Test examples the final attack sees.", kind="size")
    flatness_examples: int = field(1000, "Test examples the flatness measures and the Hessian see.", kind="size")
    avg_xi: float = field(0.5, "Average-case flatness: the layer-wise relative radius xi.")
    avg_draws: int = field(10, "Average-case flatness: random weight perturbations drawn.")
    worst_xi: float = field(0.003, "Worst-case flatness: the layer-wise relative radius xi.")
    worst_steps: int = field(20, "Worst-case flatness: iterations of the joint weight and input attack.")
    worst_restarts: int = field(10, "Worst-case flatness: restarts (the largest loss counts).")
    hessian_examples: int = field(500, "Examples of the Hessian's eigenvalues (0: skip them).", kind="size")
    curve_variants: str = field("at", "Variants measured at every snapshot, separated by spaces ('' for none).")
    landscape_variant: str = field("at", "The variant whose final model's loss landscape is drawn ('' for none).")
    landscape_points: int = field(11, "Points of the 1-D slices in [-1, 1] (the 2-D slice: half as many a side).",
                                  kind="size")
    landscape_directions: int = field(3, "Random directions the 1-D slice is averaged over.")
    landscape_examples: int = field(200, "Test examples of the loss-landscape slices.", kind="size")
    batch_size: int = field(250, "Batch size of every measurement.", kind="size")
    seed: int = field(0, "Seed of the attacks' starts and the weight perturbations.", kind="seed")

    def __post_init__(self):
        self.check_bounds()
        for name in ("examples", "final_examples", "flatness_examples", "avg_draws", "worst_steps", "worst_restarts",
                     "landscape_points", "landscape_directions", "landscape_examples", "batch_size"):
            if getattr(self, name) < 1:
                self.bad(name, "it must be >= 1")
        for name in ("hessian_examples", "seed"):
            if getattr(self, name) < 0:
                self.bad(name, "it must be >= 0")
        for name in ("avg_xi", "worst_xi"):  # NaN fails the comparison too
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                self.bad(name, "it must be a layer-wise relative radius in (0, 1] (at 0 every flatness is 0 and "
                               "Kendall's tau is undefined; above 1 the perturbation outgrows the weights and the "
                               "losses overflow to inf and NaN)")
        from tfrobust.flatness.zoo import variant_name

        for flag in ("curve_variants", "landscape_variant"):  # known names; the zoo's are checked when it is read
            for spec in getattr(self, flag).split():
                variant_name(spec, flag)
        self.attacks()
        side = max(self.landscape_points // 2, 3)  # a loss: a float64, then a float in a list and in JSON
        self.check_memory([("the 1-D slices' losses", 64 * self.landscape_directions * self.landscape_points,
                            ("landscape_points", "landscape_directions")),
                           ("the 2-D slice's losses", 64 * side ** 2, ("landscape_points",))])

    def attacks(self):
        """``(attack, final attack or None)``, parsed; an error names the flag. The robust-loss
        attack must be PGD-like: the worst-case measure takes its input steps from it."""
        from tfrobust import attacks
        from tfrobust.flatness.measures import input_settings

        attack = attacks.from_spec(self.rloss_attack, "rloss_attack")
        try:
            input_settings(attack)
        except ConfigError as e:
            raise ConfigError(f"--rloss_attack={self.rloss_attack}: {e}") from None
        final = attacks.from_spec(self.final_attack, "final_attack") if self.final_attack else None
        return attack, final

    def key(self) -> str:
        """The hash of the settings a measurement depends on (not which variants are drawn)."""
        values = {k: v for k, v in self.to_dict().items() if not k.startswith(("curve_", "landscape_"))}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:12]


def measure(model, splits, config: MeasureConfig, final: bool, progress: Callable[[str], None]) -> Dict:
    """Every measure of ``model``: errors, robust losses and gap, flatness, Hessian eigenvalues, and
    the seconds each took."""
    from tfrobust.data.splits import pipeline
    from tfrobust.evaluation import evaluate
    from tfrobust.flatness import average_flatness, batches, extreme_eigenvalues, robust_loss, worst_flatness

    attack, final_attack = config.attacks()
    c, seed, batch = config, config.seed, config.batch_size
    model = getattr(model, "base", model)  # a rotation head does not touch the class loss: leave it out
    x_train, y_train = splits.train_arrays
    train = pipeline(x_train[:c.examples], y_train[:c.examples], c.batch_size)
    out, seconds = {}, {}

    began = time.perf_counter()
    # compact=False: the robust loss is the highest the attack finds, not the first success's
    test = evaluate(model, splits.test, {"pgd": attack}, max_examples=c.examples, seed=seed, checks=False,
                    timing=False, compact=False)
    on_train = evaluate(model, train, {"pgd": attack}, seed=seed, checks=False, timing=False, compact=False)
    seconds["errors_and_rloss"] = time.perf_counter() - began
    out.update(clean_error=1 - test["natural"]["accuracy"], pgd_error=1 - test["pgd"]["accuracy"],
               rloss_test=test["pgd"]["loss"], rloss_train=on_train["pgd"]["loss"],
               clean_loss_test=test["natural"]["loss"], clean_loss_train=on_train["natural"]["loss"])
    out["rloss_gap"] = out["rloss_test"] - out["rloss_train"]
    if final and final_attack is not None:
        progress(f"    {final_attack.label} on {c.final_examples} test examples")
        began = time.perf_counter()
        robust = evaluate(model, splits.test, {"final": final_attack}, max_examples=c.final_examples, seed=seed,
                          checks=False, timing=False)
        seconds["final_attack"] = time.perf_counter() - began
        out["aa_error"] = 1 - robust["final"]["accuracy"]
        out["aa_examples"] = robust["final"]["examples"]

    data = batches(splits.test, c.flatness_examples, batch)
    robust_loss(model, data, attack, batch_size=batch, seed=seed)  # traces the attack: not timed
    began = time.perf_counter()
    robust_loss(model, data, attack, batch_size=batch, seed=seed)
    seconds["one_rloss"] = time.perf_counter() - began  # the unit the flatness measures are priced in
    progress(f"    average-case flatness: {c.avg_draws} draws at xi={c.avg_xi:g}")
    for name, a in (("avg_flatness", attack), ("avg_flatness_clean", None)):
        f = average_flatness(model, data, a, xi=c.avg_xi, draws=c.avg_draws, batch_size=batch, seed=seed)
        out[name], seconds[name] = f.value, f.seconds
    progress(f"    worst-case flatness: {c.worst_restarts} restarts x {c.worst_steps} steps at xi={c.worst_xi:g}")
    for name, a in (("worst_flatness", attack), ("worst_flatness_clean", None)):
        f = worst_flatness(model, data, a, xi=c.worst_xi, steps=c.worst_steps, restarts=c.worst_restarts,
                           batch_size=batch, seed=seed)
        out[name], seconds[name] = f.value, f.seconds
        if f.joint_value is not None:
            out["worst_flatness_joint"] = f.joint_value
    if c.hessian_examples:
        progress(f"    Hessian eigenvalues on {c.hessian_examples} examples")
        x, y = batches(splits.test, c.hessian_examples, c.hessian_examples)[0]
        began = time.perf_counter()
        e = extreme_eigenvalues(model, x, y, attack, batch_size=batch, seed=seed)
        seconds["hessian"] = time.perf_counter() - began
        out.update(lambda_max=e.max, lambda_min=e.min, hessian_products=e.products)
    out["seconds"] = seconds
    return out


class FlatnessStudy:
    """``FlatnessStudy(config, base_dir).run()`` -> the report record (also ``report.json``)."""

    def __init__(self, config: MeasureConfig, base_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None):
        from tfrobust import build
        from tfrobust.training.config import TrainConfig

        path = os.path.join(base_dir, "zoo.json")
        if not os.path.exists(path):
            raise DataError(f"{path} does not exist: train the zoo first: tfrobust-flatness (python -m runs.flatness) "
                            f"--base_dir={base_dir}")
        hint = f"; rerun tfrobust-flatness (python -m runs.flatness) --base_dir={base_dir}"
        try:
            with open(path) as f:
                self.zoo = records.check(json.load(f), records.ZOO, path, "a zoo record", hint)
            template = TrainConfig.from_dict(self.zoo["template"])
        except (ValueError, TypeError, UnicodeDecodeError) as e:
            raise DataError(f"{path} is not a zoo record ({type(e).__name__}: {e}){hint}") from None
        for run in self.zoo["runs"]:  # the models it names, and the measurements written beside them, stay in the zoo
            run_path = path_inside(base_dir, run["path"], path)
            for snap in run.get("snapshots", []):
                path_inside(run_path, snap["path"], path)
        self.config, self.base_dir, self.progress = config, base_dir, progress or (lambda text: None)
        self.curve_variants = config.curve_variants.split()
        self._check_variants(path)
        self.setup = build.build(template, data_dir)

    def _check_variants(self, path: str) -> None:
        """--curve_variants and --landscape_variant name variants of this zoo (a spec or its name)."""
        known = [run["variant"] for run in self.zoo["runs"]]
        landscape = [self.config.landscape_variant] if self.config.landscape_variant else []
        for flag, names in (("curve_variants", self.curve_variants), ("landscape_variant", landscape)):
            unknown = [n for n in names if not any(n in (v, v.split(":")[0]) for v in known)]
            if unknown:
                raise ConfigError(f"--{flag}={getattr(self.config, flag)}: the zoo {path} has no variant "
                                  f"{unknown[0]!r}; its variants: {', '.join(known)} (or '' for none)")

    def _targets(self) -> List[Dict]:
        """(variant, run path, step, model file, final) of every model to measure."""
        targets = []
        for run in self.zoo["runs"]:
            name = run["variant"].split(":")[0]
            final_step = (run.get("final") or {}).get("step")
            if run["variant"] in self.curve_variants or name in self.curve_variants:
                for snap in run.get("snapshots", []):
                    if snap["step"] != final_step:
                        targets.append({**run, "step": snap["step"], "file": snap["path"], "final": False})
            targets.append({**run, "step": final_step, "file": "model.keras", "final": True})
        return targets

    def run(self) -> Dict:
        from tfrobust.saving import load_model

        c, key = self.config, self.config.key()
        models = []
        targets = self._targets()
        for i, t in enumerate(targets):
            run_path = os.path.join(self.base_dir, t["path"])
            cache = os.path.join(run_path, "flatness", key, f"step_{t['step']:06d}{'_final' if t['final'] else ''}.json")
            label = f"[{i + 1}/{len(targets)}] {t['variant']} at iteration {t['step']}{' (final)' if t['final'] else ''}"
            entry, problem = _read_cache(cache, t)
            if entry is not None:
                self.progress(f"{label}: measured before ({cache})")
            else:
                self.progress(label + (f": {cache} {problem}; measuring again" if problem else ""))
                model = load_model(os.path.join(run_path, t["file"]))
                entry = {"variant": t["variant"], "path": t["path"], "step": t["step"], "final": t["final"],
                         "best_step": (t.get("best") or {}).get("step"),
                         **measure(model, self.setup.splits, c, t["final"], self.progress)}
                if self.setup.chief:
                    write_json_atomic(cache, entry)
            models.append(entry)
        report = {"kind": "flatness_report", "measure": c.to_dict(), "key": key, "template": self.zoo["template"],
                  "models": models, "seconds": cost(models)}
        if c.landscape_variant:
            report["landscape"] = self.landscape()
        if self.setup.chief:
            write_json_atomic(os.path.join(self.base_dir, "report.json"), report)
        return report

    def landscape(self) -> Optional[Dict]:
        """1-D slices (random, averaged over directions, and adversarial) and a 2-D slice of the
        robust loss around the final model of ``landscape_variant``; PNGs beside report.json."""
        import numpy as np

        from tfrobust.analysis.landscape import plot_slice_1d, plot_slice_2d
        from tfrobust.flatness import batches, loss_slice_1d, loss_slice_2d
        from tfrobust.saving import load_model

        c = self.config
        run = next((r for r in self.zoo["runs"] if r["variant"].split(":")[0] == c.landscape_variant
                    or r["variant"] == c.landscape_variant), None)
        if run is None:
            self.progress(f"no variant {c.landscape_variant!r} in the zoo: no loss landscape")
            return None
        attack, _ = c.attacks()
        self.progress(f"loss landscape of {run['variant']}: {c.landscape_points} points x "
                      f"({c.landscape_directions} random + 1 adversarial) directions, then a 2-D slice")
        model = load_model(os.path.join(self.base_dir, run["path"], "model.keras"))
        model = getattr(model, "base", model)
        data = batches(self.setup.splits.test, c.landscape_examples, c.batch_size)
        batch = dict(batch_size=c.batch_size, seed=c.seed)
        alphas = np.linspace(-1.0, 1.0, c.landscape_points)
        curves = {}
        for direction, count in (("random", c.landscape_directions), ("adversarial", 1)):
            _, losses = loss_slice_1d(model, data, alphas, attack, direction=direction, directions=count, **batch)
            curves[direction] = losses.tolist()
        side = np.linspace(-1.0, 1.0, max(c.landscape_points // 2, 3))
        _, _, surface = loss_slice_2d(model, data, side, attack=attack, **batch)
        paths = {"1d": os.path.join(self.base_dir, "landscape.png"), "2d": os.path.join(self.base_dir, "landscape_2d.png")}
        plot_slice_1d({k: (alphas, np.array(v)) for k, v in curves.items()}, paths["1d"],
                      title=f"robust loss along weight directions, {run['variant']}")
        plot_slice_2d(side, side, surface, paths["2d"], title=f"robust loss, {run['variant']}")
        return {"variant": run["variant"], "alphas": alphas.tolist(), "curves": curves, "side": side.tolist(),
                "surface": surface.tolist(), "paths": {k: os.path.basename(v) for k, v in paths.items()}}


def _read_cache(path: str, target: Dict) -> tuple:
    """``(the kept measurement of target, None)``; ``(None, None)`` when there is none, and
    ``(None, what is wrong with it)`` when it is damaged (then it is made again)."""
    entry, problem = records.read_cache(path, records.MEASUREMENT)
    if entry is None:
        return None, problem
    if any(entry[k] != target[k] for k in ("variant", "step", "final")):
        return None, f"holds the measurement of {entry['variant']} at iteration {entry['step']}"
    return entry, None


def cost(models: List[Dict]) -> Dict:
    """What one flatness measurement costs against one PGD robust-loss evaluation on the same
    examples (the median over the measured models): the report's ``seconds``."""
    import statistics

    ratios = {}
    for name in ("avg_flatness", "worst_flatness", "hessian"):
        values = [m["seconds"][name] / m["seconds"]["one_rloss"] for m in models
                  if name in m.get("seconds", {}) and m["seconds"].get("one_rloss")]
        if values:
            ratios[f"{name} / one PGD RLoss"] = statistics.median(values)
    units = [m["seconds"]["one_rloss"] for m in models if m.get("seconds", {}).get("one_rloss")]
    if units:
        ratios["one PGD RLoss (s)"] = statistics.median(units)
    return ratios
