"""Lottery-ticket results (``tfrobust.pruning.run_lottery``) -> the paper's tables and graphs.

    runs = load_runs("results/lottery")        # every finished lottery run under a base directory
    write_report(runs, "results/lottery")      # table.md, table.csv and three PNG graphs

Tables: for each run (reset strategy x training) and level of remaining weights, the test accuracy
after the last iteration, naturally and under each attack, as mean ± std over trials, and the
early-stopping iteration (lowest natural validation loss) with the test accuracy there.
Graphs: test accuracy against remaining weights; test accuracy against training iteration for each
level; early-stopping iteration against remaining weights.
"""
from __future__ import annotations

import glob
import json
import os
from collections import defaultdict
from typing import Dict, List, Sequence

import numpy as np

from . import tables
from .figures import pyplot, save_figure
from tfrobust import records
from tfrobust.errors import DataError
from tfrobust.io import write_text_atomic
from tfrobust.pruning.config import LotteryConfig


def load_runs(base_dir: str) -> List[Dict]:
    """Every finished lottery run (its results.json) in ``base_dir``, which may be one run directory,
    a reset directory or a base directory; sorted by reset and label."""
    paths = [p for depth in ("", "*", "*/*") for p in glob.glob(os.path.join(base_dir, depth, "results.json"))]
    runs = []
    for path in sorted(set(paths)):
        try:
            with open(path) as f:
                results = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"cannot read {path}: {e}") from None
        if isinstance(results, dict) and results.get("kind") == "lottery":
            records.check(results, records.LOTTERY, path, "a lottery record",
                          ": it was not written by runs.lottery, or is damaged")
            results["path"] = os.path.dirname(path)
            runs.append(results)
    runs += partial_runs(base_dir, {run["path"] for run in runs})
    if not runs:
        raise DataError(f"no finished lottery run (results.json of kind 'lottery') under {base_dir}")
    return sorted(runs, key=lambda r: (config_of(r).reset, label(r)))


def partial_runs(base_dir: str, finished) -> List[Dict]:
    """Searches still under way or spread over a job array (config.json and trial_*/, no
    results.json): their finished rounds, marked ``partial``."""
    from tfrobust.pruning.lottery import collect_rounds

    out = []
    for depth in ("", "*", "*/*"):
        for path in sorted(glob.glob(os.path.join(base_dir, depth, "config.json"))):
            root = os.path.dirname(path)
            if root in finished or os.path.exists(os.path.join(root, "results.json")) \
                    or not glob.glob(os.path.join(root, "trial_*")):
                continue
            try:
                with open(path) as f:
                    config = LotteryConfig.from_dict(json.load(f))
            except (OSError, ValueError, TypeError) as e:
                raise DataError(f"cannot read {path}: {e}") from None
            rounds = [rec for _, rec in sorted(collect_rounds(root, config).items())]
            if rounds:
                out.append({"kind": "lottery", "config": config.to_dict(), "id": os.path.basename(root),
                            "rounds": rounds, "partial": True, "path": root})
    return out


def config_of(run: Dict) -> LotteryConfig:
    """The LotteryConfig of a results record (records of older tfrobust versions are migrated)."""
    return LotteryConfig.from_dict(run["config"])


def label(run: Dict) -> str:
    """``reinit_orig, normal training``, ``reinit_orig, pgd:eps=0.3,... adversarial training`` (the
    50/50 mix) or ``reinit_orig, pgd:eps=0.3,... trades:beta=6 training``."""
    c = config_of(run)
    partial = ""
    if run.get("partial"):
        done = len({rec["trial"] for rec in run["rounds"] if rec["round"] == c.rounds - 1})
        partial = f" ({done} of {c.trials} trials finished)"
    if c.train.objective == "natural":
        return f"{c.reset}, normal training{partial}"
    objective = "adversarial" if c.train.objective == "mix" else c.train.objective
    return f"{c.reset}, {c.train.attack} {objective} training{partial}"


def _levels(run: Dict) -> Dict[int, List[Dict]]:
    by_round = defaultdict(list)
    for record in run["rounds"]:
        by_round[record["round"]].append(record)
    return dict(sorted(by_round.items()))


def _evaluations(record: Dict) -> List[str]:
    """The evaluations of a round record: natural first, AutoAttack last, beside the attacks
    before it (results.json stores keys sorted)."""
    names = list(record["final"]["test"])
    return sorted(names, key=lambda n: (n != "natural", n.startswith("autoattack")))


def _stat(values: Sequence[float]) -> Dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0, "n": int(a.size)}


def level_stats(run: Dict) -> List[Dict]:
    """Per round: remaining fraction and, over trials, final and early-stopping test accuracies."""
    out = []
    for r, records in _levels(run).items():
        names = _evaluations(records[0])
        out.append({
            "round": r,
            "remaining": float(np.mean([rec["remaining"] for rec in records])),
            "trials": len(records),
            "final": {n: _stat([rec["final"]["test"][n]["accuracy"] for rec in records]) for n in names},
            "early_step": _stat([rec["early_stop"]["step"] for rec in records]),
            "early": {n: _stat([rec["early_stop"]["test"][n]["accuracy"] for rec in records]) for n in names
                      if all(n in rec["early_stop"]["test"] for rec in records)},  # costly ones: end only
        })
    return out


def _pm(stat: Dict, scale: float = 100.0, digits: int = 2) -> str:
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def table_rows(runs: Sequence[Dict], numeric: bool = False) -> List[Dict]:
    """One row per run and level; accuracies in %, "mean ± std" strings (or mean/std columns)."""
    rows = []
    for run in runs:
        for s in level_stats(run):
            row = {"run": label(run), "round": s["round"], "remaining (%)": round(100 * s["remaining"], 2),
                   "trials": s["trials"]}
            for prefix, stats in (("test", s["final"]), ("early-stop test", s["early"])):
                for name, st in stats.items():
                    if numeric:
                        row[f"{prefix} {name} mean"] = 100 * st["mean"]
                        row[f"{prefix} {name} std"] = 100 * st["std"]
                    else:
                        row[f"{prefix} {name}"] = _pm(st)
                if prefix == "test":
                    if numeric:
                        row["early-stop iteration mean"] = s["early_step"]["mean"]
                        row["early-stop iteration std"] = s["early_step"]["std"]
                    else:
                        row["early-stop iteration"] = _pm(s["early_step"], scale=1.0, digits=0)
            rows.append(row)
    return rows


def _weights_axis(ax, runs: Sequence[Dict]) -> None:
    """Log scale, dense to sparse, ticked at the measured levels."""
    levels = sorted({round(100 * s["remaining"], 1) for run in runs for s in level_stats(run)}, reverse=True)
    ax.set_xscale("log")
    ax.set_xticks(levels, [f"{v:g}" for v in levels], fontsize=7)
    ax.minorticks_off()
    ax.invert_xaxis()
    ax.set_xlabel("weights remaining (%)")
    ax.grid(alpha=0.3, which="both")


def plot_accuracy_vs_weights(runs: Sequence[Dict], path: str) -> None:
    """Final test accuracy (mean ± std) against remaining weights: natural solid, attacks dashed."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, run in enumerate(runs):
        stats = level_stats(run)
        x = [100 * s["remaining"] for s in stats]
        for j, name in enumerate(stats[0]["final"]):
            y = [100 * s["final"][name]["mean"] for s in stats]
            e = [100 * s["final"][name]["std"] for s in stats]
            ax.errorbar(x, y, yerr=e, fmt="-o" if j == 0 else ("--s", ":^", "-.v")[(j - 1) % 3],
                        color=colors[i % len(colors)], ms=4, capsize=2, label=f"{label(run)}: {name}")
    _weights_axis(ax, runs)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=6, loc="best")
    ax.set_title("test accuracy against remaining weights")
    save_figure(fig, path)


def plot_curves(runs: Sequence[Dict], path: str) -> None:
    """Test accuracy (mean over trials) against iteration, one line per level; a row per run and a
    column per evaluation."""
    plt = pyplot()
    names_per_run = [[n for n in _evaluations(run["rounds"][0]) if n in run["rounds"][0]["curve"][0]["test"]]
                     for run in runs]  # evaluations made only at the end of a round have no curve
    cols = max(len(n) for n in names_per_run)
    fig, axes = plt.subplots(len(runs), cols, figsize=(5 * cols, 3.4 * len(runs)), squeeze=False)
    for row, run in enumerate(runs):
        levels = _levels(run)
        cmap = plt.get_cmap("viridis")
        for col, name in enumerate(names_per_run[row]):
            ax = axes[row][col]
            for k, (r, records) in enumerate(levels.items()):
                steps = [p["step"] for p in records[0]["curve"]]
                acc = np.mean([[100 * p["test"][name]["accuracy"] for p in rec["curve"]] for rec in records], axis=0)
                remaining = 100 * np.mean([rec["remaining"] for rec in records])
                ax.plot(steps, acc, color=cmap(k / max(1, len(levels) - 1)), label=f"{remaining:.1f}%")
            ax.set_title(f"{label(run)}\n{name}", fontsize=8)
            ax.set_xlabel("training iteration")
            ax.set_ylabel("test accuracy (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, title="weights left", title_fontsize=6, loc="lower right")
        for col in range(len(names_per_run[row]), cols):
            axes[row][col].axis("off")
    save_figure(fig, path)


def plot_early_stopping(runs: Sequence[Dict], path: str) -> None:
    """Early-stopping iteration (mean ± std over trials) against remaining weights."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        stats = level_stats(run)
        ax.errorbar([100 * s["remaining"] for s in stats], [s["early_step"]["mean"] for s in stats],
                    yerr=[s["early_step"]["std"] for s in stats], fmt="-o", ms=4, capsize=2, label=label(run))
    _weights_axis(ax, runs)
    ax.set_ylabel("early-stopping iteration")
    ax.legend(fontsize=7, loc="best")
    ax.set_title("early stopping (lowest natural validation loss) against remaining weights")
    save_figure(fig, path)


def write_report(runs: Sequence[Dict], out_dir: str) -> Dict[str, str]:
    """Writes table.md, table.csv, accuracy_vs_weights.png, curves.png and early_stopping.png."""
    paths = {
        "markdown": os.path.join(out_dir, "table.md"),
        "csv": os.path.join(out_dir, "table.csv"),
        "weights_plot": os.path.join(out_dir, "accuracy_vs_weights.png"),
        "curves_plot": os.path.join(out_dir, "curves.png"),
        "early_stop_plot": os.path.join(out_dir, "early_stopping.png"),
    }
    write_text_atomic(paths["markdown"], tables.to_markdown(table_rows(runs), digits=2))
    write_text_atomic(paths["csv"], tables.to_csv(table_rows(runs, numeric=True)))
    plot_accuracy_vs_weights(runs, paths["weights_plot"])
    plot_curves(runs, paths["curves_plot"])
    plot_early_stopping(runs, paths["early_stop_plot"])
    return paths
