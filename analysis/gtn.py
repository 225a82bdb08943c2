"""Generative Teaching Networks (seed 004) -> a grid of generated samples, the robustness table and
the accuracy-against-beta plots (one panel per test, one line per training mode)."""
from __future__ import annotations

import os
from typing import Dict, List

import numpy as np

from .figures import pyplot, save_figure

MODES = ("vanilla", "gtn_few", "gtn_all")
TESTS = ("noise", "blur", "ifgsm", "lbfgs")
TEST_LABELS = {"noise": "Gaussian noise (std beta)", "blur": "Gaussian blur (std beta, pixels)",
               "ifgsm": "iterated FGSM (step beta)", "lbfgs": "L-BFGS-style attack (beta)"}


def samples(images: np.ndarray, labels: np.ndarray, path: str, steps: int = 8, classes: int = 10) -> None:
    """A grid of generated images: one row per inner step (the first ``steps``), one column per
    label (up to 10), each the step's first image of that label (blank if the batch has none)."""
    plt = pyplot()
    columns = min(classes, 10)
    fig, axes = plt.subplots(steps, columns, figsize=(columns * 0.8, steps * 0.8 + 0.4), squeeze=False)
    for t in range(steps):
        for c in range(columns):
            ax = axes[t, c]
            ax.set_xticks([])
            ax.set_yticks([])
            found = np.flatnonzero(labels[t] == c)
            if found.size:
                ax.imshow(images[t, found[0]].squeeze(), cmap="gray", vmin=0.0, vmax=1.0)
            if t == 0:
                ax.set_title(f"label {c}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"step {t + 1}", fontsize=7)
    fig.suptitle("GTN curriculum: the first generated image of each label, per inner step", fontsize=9)
    save_figure(fig, path)


def mode_label(mode: str, few: int, all_steps: int) -> str:
    return {"vanilla": "normally trained (1 epoch)", "gtn_few": f"{few} GTN steps",
            "gtn_all": f"{all_steps} GTN steps"}.get(mode, mode)


def table_rows(report: Dict) -> List[Dict]:
    """One row per (learner, test, beta): the mean and std accuracy of each mode over the seeds."""
    rows = []
    for arch, entry in report["learners"].items():
        if not entry["kept"]:
            continue
        if report.get("autoattack"):
            rows.append(_autoattack_row(report, arch, entry, mean_and_std=True))
        for test in ["clean", *TESTS]:
            betas = [None] if test == "clean" else report["betas"][test]
            for j, beta in enumerate(betas):
                row = {"learner": arch, "test": test, "beta": "" if beta is None else beta}
                for mode in MODES:
                    accs = [seed["clean"] if beta is None else seed[test][j] for seed in entry["modes"][mode]]
                    row[f"{mode}_mean"] = float(np.mean(accs))
                    row[f"{mode}_std"] = float(np.std(accs))
                rows.append(row)
    return rows


def _autoattack_row(report: Dict, arch: str, entry: Dict, mean_and_std: bool) -> Dict:
    """The row of AutoAttack's robust accuracy (``beta``: the spec)."""
    row = {"learner": arch, "test": "autoattack", "beta": report["autoattack"]}
    for mode in MODES:
        accs = [seed["autoattack"] for seed in entry["modes"][mode]]
        if mean_and_std:
            row[f"{mode}_mean"], row[f"{mode}_std"] = float(np.mean(accs)), float(np.std(accs))
        else:
            row[mode] = float(np.mean(accs))
    return row


def plot_robustness(report: Dict, path: str) -> None:
    """Accuracy against beta, one panel per test, one line (mean, shaded std) per training mode;
    one row of panels per kept learner."""
    plt = pyplot()
    kept = [a for a, e in report["learners"].items() if e["kept"]]
    if not kept:
        return
    fig, axes = plt.subplots(len(kept), len(TESTS), figsize=(4 * len(TESTS), 3.2 * len(kept)), squeeze=False)
    for r, arch in enumerate(kept):
        modes = report["learners"][arch]["modes"]
        for c, test in enumerate(TESTS):
            ax = axes[r, c]
            betas = report["betas"][test]
            for mode in MODES:
                accs = np.array([seed[test] for seed in modes[mode]])
                mean, std = accs.mean(0), accs.std(0)
                ax.plot(betas, mean, marker="o", ms=3, label=mode_label(mode, report["few_steps"], report["inner_steps"]))
                ax.fill_between(betas, mean - std, mean + std, alpha=0.2)
            steps = report.get("steps", {}).get(test)
            ax.set_title(f"{arch}: {TEST_LABELS[test]}" + (f", {steps} steps" if steps else ""), fontsize=8)
            ax.set_xlabel("beta")
            ax.set_ylabel("test accuracy")
            ax.set_ylim(0, 1)
            if test == "lbfgs":
                ax.set_xscale("log")
            if r == 0 and c == 0:
                ax.legend(fontsize=7)
    save_figure(fig, path)


def write_report(report: Dict, out_dir: str) -> Dict[str, str]:
    """``table.md`` and ``robustness.png`` in ``out_dir``; returns their paths."""
    from . import tables
    from tfrobust.io import write_text_atomic

    paths = {"table": os.path.join(out_dir, "table.md"), "plot": os.path.join(out_dir, "robustness.png")}
    write_text_atomic(paths["table"], tables.to_markdown(table_rows(report), digits=3))
    plot_robustness(report, paths["plot"])
    return paths


def curves(metrics: List[Dict], path: str) -> None:
    """Validation accuracy (few and all inner steps) and the outer loss against outer iterations."""
    if not metrics:
        return
    plt = pyplot()
    steps = [r["step"] for r in metrics]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in sorted(metrics[0]["valid"], key=lambda n: int(n.split("_")[1])):
        count = name.split("_")[1]
        left.plot(steps, [r["valid"][name] for r in metrics], marker="o", ms=3,
                  label=f"learner after {count} inner steps")
    left.set_xlabel("outer iteration")
    left.set_ylabel("validation accuracy")
    left.legend(fontsize=7)
    right.plot(steps, [r["outer_loss"] for r in metrics], marker="o", ms=3)
    right.set_xlabel("outer iteration")
    right.set_ylabel("outer loss (mean since the last point)")
    save_figure(fig, path)


def accuracy_rows(results: Dict, config) -> List[Dict]:
    """runs.gtn's table: accuracy of a learner taught by the GTN (few, all steps) and of one trained
    on one epoch of real data, on validation and test."""
    rows = []
    for split in ("valid", "test"):
        row = {"split": split}
        for name, acc in sorted(results["final"][split].items(), key=lambda item: int(item[0].split("_")[1])):
            row[f"{name.split('_')[1]} GTN steps"] = acc
        row["1 epoch of real data"] = results["real_data_epoch"][split]
        rows.append(row)
    return rows


def summary_rows(report: Dict) -> List[Dict]:
    """runs.gtn_robustness's short table: per learner and test, each mode's mean accuracy at the
    largest beta (the paper's summary), and the clean accuracy."""
    rows = []
    for arch, entry in report["learners"].items():
        if not entry["kept"]:
            rows.append({"learner": arch, "test": "dropped", "beta": "",
                         **{m: entry["clean_mean"][m] for m in MODES}})
            continue
        for test in ["clean", *TESTS]:
            betas = report["betas"].get(test, [None])
            beta = betas[-1] if test != "clean" else None
            row = {"learner": arch, "test": test, "beta": "" if beta is None else beta}
            for mode in MODES:
                accs = [s["clean"] if beta is None else s[test][-1] for s in entry["modes"][mode]]
                row[mode] = float(np.mean(accs))
            rows.append(row)
        if report.get("autoattack"):
            rows.append(_autoattack_row(report, arch, entry, mean_and_std=False))
    return rows
