"""Evaluation results (``tfrobust.evaluation.evaluate``) -> a table and a bar chart."""
from __future__ import annotations

import os
from typing import Dict, List

from . import tables
from .figures import pyplot, save_figure
from tfrobust.io import write_text_atomic


def rows(results: Dict[str, Dict]) -> List[Dict]:
    """One row per evaluation: natural first, then each attack, with accuracy and mean loss."""
    return [
        {"evaluation": name, "accuracy": r["accuracy"], "loss": r["loss"], "examples": r["examples"]}
        for name, r in results.items()
    ]


def stage_rows(results: Dict[str, Dict]) -> List[Dict]:
    """One row per stage of each evaluation with stages (AutoAttack): accuracy after the stage,
    its time and its single-example forward and backward passes."""
    return [
        {"evaluation": name, "stage": s["stage"], "accuracy": s["accuracy"], "seconds": s.get("seconds"),
         "forward": s["forward"], "backward": s["backward"]}
        for name, r in results.items() for s in r.get("stages", [])
    ]


def robustbench_record(results: Dict[str, Dict], **about) -> Dict:
    """A RobustBench-style summary: ``about`` (model, dataset), clean accuracy, the number of
    examples, and per evaluation with stages its robust accuracy, eps, norm, version, per-stage
    accuracy and time, and its forward and backward passes."""
    natural = results["natural"]
    return {
        **about,
        "clean_acc": natural["accuracy"],
        "n_examples": natural["examples"],
        "evaluations": [
            {"attack": name, "version": r["attack"].get("version"), "eps": r["attack"]["eps"],
             "norm": r["attack"]["norm"], "robust_acc": r["accuracy"], "seconds": r.get("seconds"),
             "forward_passes": r.get("forward"), "backward_passes": r.get("backward"),
             "stages": r["stages"]}
            for name, r in results.items() if "stages" in r
        ],
    }


def method(settings: Dict) -> str:
    """A short name for an attack's settings: ``PGD-40``, ``PGD-40 no start``, ``PGD-40 x5``,
    ``PGD-10 pred. labels``, ``AutoAttack standard``; other attacks by their registry name."""
    if settings["name"] == "autoattack":
        return f"AutoAttack {settings['version']}"
    if settings["name"] != "pgd":
        return settings["name"]
    text = f"PGD-{settings['steps']}"
    if not settings["random_start"]:
        text += " no start"
    if settings["restarts"] > 1:
        text += f" x{settings['restarts']}"
    if settings.get("predicted_labels"):
        text += " pred. labels"
    return text


def eps_rows(records: Dict[str, Dict]) -> List[Dict]:
    """One row per (model, eps) from runs.attack's results.json records (``{model label: record}``):
    clean accuracy and the accuracy under each method at that eps, in %."""
    rows = []
    for model, record in records.items():
        results = record["results"]
        by_eps: Dict[float, Dict[str, float]] = {}
        for name, r in results.items():
            if name != "natural" and "eps" in r.get("attack", {}):
                by_eps.setdefault(r["attack"]["eps"], {})[method(r["attack"])] = 100 * r["accuracy"]
        for eps in sorted(by_eps):
            rows.append({"model": model, "eps": eps, "clean": 100 * results["natural"]["accuracy"], **by_eps[eps]})
    return rows


def plot_accuracy(results: Dict[str, Dict], path: str, title: str = "") -> None:
    """A horizontal bar per evaluation, labelled with its accuracy; written atomically as PNG."""
    plt = pyplot()

    names = list(results)
    acc = [100 * results[n]["accuracy"] for n in names]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(names) + 1.2))
    bars = ax.barh(range(len(names)), acc, color=["#4c72b0"] + ["#dd8452"] * (len(names) - 1))
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy (%)")
    ax.bar_label(bars, fmt="%.1f", padding=3)
    ax.set_title(title)
    save_figure(fig, path)


def write_report(results: Dict[str, Dict], out_dir: str, title: str = "") -> Dict[str, str]:
    """Writes ``table.md``, ``table.csv`` and ``accuracy.png`` into ``out_dir``; returns the paths."""
    table = rows(results)
    paths = {
        "markdown": os.path.join(out_dir, "table.md"),
        "csv": os.path.join(out_dir, "table.csv"),
        "plot": os.path.join(out_dir, "accuracy.png"),
    }
    write_text_atomic(paths["markdown"], tables.to_markdown(table))
    write_text_atomic(paths["csv"], tables.to_csv(table))
    plot_accuracy(results, paths["plot"], title)
    return paths
