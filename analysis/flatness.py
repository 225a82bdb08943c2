"""Robust flatness (seed 001) -> the table, Kendall's tau, the paper's scatter plots and the
robust-overfitting curves.

A measurement (:mod:`tfrobust.flatness.study`) is a dict per model and step: errors, robust
losses and their gap, average- and worst-case flatness (robust and clean), the Hessian's extreme
eigenvalues. ``final`` marks each variant's last model; the others are snapshots through training.
"""
from __future__ import annotations

import math
import os
from typing import Dict, List, Sequence

from . import tables
from .figures import pyplot, save_figure
from tfrobust.io import write_text_atomic

COLUMNS = ("variant", "step", "clean_error", "pgd_error", "aa_error", "rloss_train", "rloss_test", "rloss_gap",
           "avg_flatness", "worst_flatness", "avg_flatness_clean", "worst_flatness_clean", "lambda_max",
           "lambda_min")
# (y, x) pairs the paper correlates across models: robust generalization and RLoss against flatness.
PAIRS = (("rloss_gap", "avg_flatness"), ("rloss_test", "avg_flatness"),
         ("rloss_gap", "worst_flatness"), ("rloss_test", "worst_flatness"),
         ("rloss_gap", "lambda_max"), ("rloss_test", "lambda_max"))
LABELS = {"rloss_gap": "robust generalization gap (test - train RLoss)", "rloss_test": "test RLoss",
          "avg_flatness": "average-case robust flatness", "worst_flatness": "worst-case robust flatness",
          "lambda_max": "largest Hessian eigenvalue (robust loss)"}


def zoo_rows(zoo: Dict) -> List[Dict]:
    """One row per trained variant: its last evaluation's accuracies and the best validation step."""
    rows = []
    for run in zoo["runs"]:
        test = (run.get("final") or {}).get("test", {})
        row = {"variant": run["variant"], "path": run["path"]}
        row.update({f"test {name}": r["accuracy"] for name, r in test.items()})
        best = run.get("best") or {}
        row["best step (valid)"] = best.get("step")
        rows.append(row)
    return rows


def final_rows(report: Dict) -> List[Dict]:
    """The table: every variant's final model, in the zoo's order."""
    return [{c: m.get(c) for c in COLUMNS} for m in report["models"] if m["final"]]


def kendall(rows: Sequence[Dict], y: str, x: str) -> Dict:
    """Kendall's tau-b between columns ``y`` and ``x`` over the rows that have both (scipy), with
    its two-sided p-value and the number of models; tau is None below 3 models."""
    from scipy import stats

    points = [(r[x], r[y]) for r in rows if _number(r.get(x)) and _number(r.get(y))]
    if len(points) < 3:
        return {"tau": None, "p": None, "n": len(points)}
    result = stats.kendalltau([p[0] for p in points], [p[1] for p in points])
    tau, p = float(result.statistic), float(result.pvalue)
    return {"tau": tau if math.isfinite(tau) else None, "p": p if math.isfinite(p) else None, "n": len(points)}


def correlations(report: Dict) -> Dict[str, Dict]:
    """Kendall's tau of every pair in :data:`PAIRS` across the final models."""
    rows = final_rows(report)
    return {f"{y} ~ {x}": kendall(rows, y, x) for y, x in PAIRS}


def correlation_rows(report: Dict) -> List[Dict]:
    return [{"pair": pair, "kendall_tau": c["tau"], "p_value": c["p"], "models": c["n"]}
            for pair, c in correlations(report).items()]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def plot_scatter(report: Dict, path: str) -> None:
    """The paper's correlation plots: robust generalization gap and test RLoss against average- and
    worst-case robust flatness, one labelled point per variant, Kendall's tau in each title."""
    rows = final_rows(report)
    pairs = PAIRS[:4]
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 8))
    for ax, (y, x) in zip(axes.T.flat, pairs):
        points = [(r[x], r[y], r["variant"]) for r in rows if _number(r.get(x)) and _number(r.get(y))]
        ax.scatter([p[0] for p in points], [p[1] for p in points])
        for px, py, name in points:
            ax.annotate(name.split(":")[0], (px, py), fontsize=7, xytext=(3, 3), textcoords="offset points")
        c = kendall(rows, y, x)
        tau = "n/a" if c["tau"] is None else f"{c['tau']:.2f}"
        ax.set_title(f"Kendall tau = {tau} ({c['n']} models)", fontsize=9)
        ax.set_xlabel(LABELS[x])
        ax.set_ylabel(LABELS[y])
    save_figure(fig, path)


def curve_rows(report: Dict, variant: str) -> List[Dict]:
    """``variant``'s measurements through training, by step."""
    return sorted((m for m in report["models"] if m["variant"] == variant), key=lambda m: m["step"])


def plot_overfitting(report: Dict, path: str) -> None:
    """Robust overfitting beside flatness, one row per variant measured through training: train and
    test RLoss and the robust test error (left), average- and worst-case flatness (right), against
    the iteration; the best validation step as a dotted line."""
    variants = list(dict.fromkeys(m["variant"] for m in report["models"] if not m["final"]))
    plt = pyplot()
    fig, axes = plt.subplots(max(len(variants), 1), 2, figsize=(11, 3.6 * max(len(variants), 1)), squeeze=False)
    for (left, right), variant in zip(axes, variants):
        rows = curve_rows(report, variant)
        steps = [r["step"] for r in rows]
        for key, style in (("rloss_train", "--"), ("rloss_test", "-")):
            left.plot(steps, [r.get(key) for r in rows], style, marker="o", label=key.replace("_", " "))
        left.set_ylabel("robust loss")
        twin = left.twinx()
        twin.plot(steps, [r.get("pgd_error") for r in rows], color="gray", marker="x", label="robust test error (PGD)")
        twin.set_ylabel("robust test error")
        for key in ("avg_flatness", "worst_flatness"):
            right.plot(steps, [r.get(key) for r in rows], marker="o", label=key.replace("_", " "))
        right.set_ylabel("robust flatness")
        best = rows[-1].get("best_step") if rows else None
        for ax in (left, right):
            ax.set_xlabel("iteration")
            ax.set_title(variant, fontsize=9)
            if best:
                ax.axvline(best, color="black", linestyle=":", linewidth=1)
        left.legend(loc="upper left", fontsize=7)
        twin.legend(loc="upper right", fontsize=7)
        right.legend(fontsize=7)
    save_figure(fig, path)


def write_report(report: Dict, out_dir: str) -> Dict[str, str]:
    """table.md (final models, then Kendall's tau, then the curves), flatness_scatter.png and
    overfitting.png in ``out_dir``; returns their paths. (The measures' cost, ``report["seconds"]``,
    varies from run to run: the command prints it, the files leave it out.)"""
    paths = {"markdown": os.path.join(out_dir, "table.md"), "scatter": os.path.join(out_dir, "flatness_scatter.png"),
             "curves": os.path.join(out_dir, "overfitting.png")}
    text = ["## Final models\n", tables.to_markdown(final_rows(report)), "\n## Kendall's tau across the final models\n",
            tables.to_markdown(correlation_rows(report))]
    for variant in dict.fromkeys(m["variant"] for m in report["models"] if not m["final"]):
        text += [f"\n## {variant} through training\n",
                 tables.to_markdown([{c: m.get(c) for c in COLUMNS} for m in curve_rows(report, variant)])]
    write_text_atomic(paths["markdown"], "".join(text))
    plot_scatter(report, paths["scatter"])
    plot_overfitting(report, paths["curves"])
    return paths
