"""ADMM pruning results (:mod:`tfrobust.pruning.admm_pipeline`) -> tables and plots: one run's
stages, layers and ||W - Z|| curve; the width study's table (rows: the original width, columns:
the target width) and PGD accuracy against the compression rate."""
from __future__ import annotations

import os
from typing import Dict, List

from . import tables
from .figures import pyplot, save_figure
from tfrobust.io import write_text_atomic


STAGES = ("pretrain", "admm", "retrain")


def _accuracies(final: Dict, split: str = "test") -> Dict[str, float]:
    """Evaluation -> accuracy: natural first, then the attacks by name (the same order whether the
    record is fresh or read back from JSON)."""
    results = final.get(split, {})
    return {name: results[name]["accuracy"] for name in sorted(results, key=lambda n: (n != "natural", n))}


def stage_rows(results: Dict) -> List[Dict]:
    """One row per stage: the remaining fraction of the weights and each test accuracy at its end."""
    stages = results["stages"]
    return [{"stage": name, "remaining": stages[name]["final"]["weights"]["total"]["fraction"],
             **_accuracies(stages[name]["final"])} for name in STAGES if name in stages]


def layer_rows(results: Dict) -> List[Dict]:
    """One row per prunable layer: its weights, the prune ratio, what remains, and its compression;
    then the total."""
    layers = results["layers"]
    rows = [{"layer": name, "weights": c["total"], "ratio": results["ratios"].get(name, 0.0),
             "remaining": c["remaining"], "compression": c["total"] / max(c["remaining"], 1)}
            for name, c in sorted(layers.items())]
    total = sum(c["total"] for c in layers.values())
    remaining = sum(c["remaining"] for c in layers.values())
    rows.append({"layer": "total", "weights": total, "ratio": 1 - remaining / total, "remaining": remaining,
                 "compression": results["compression"]})
    return rows


def plot_residual(results: Dict, path: str) -> None:
    """||W - Z|| / ||W|| at each Z/U update (before it: how close the period brought W to Z; after
    it) and rho, against the ADMM stage's iterations."""
    curve = results.get("residual_curve") or []
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    if curve:
        steps = [p["step"] for p in curve]
        ax.plot(steps, [p["relative_residual_before"] for p in curve], marker="o", label="before the update")
        ax.plot(steps, [p["relative_residual"] for p in curve], marker=".", linestyle=":", label="after it")
        ax.set_yscale("log")
        ax.legend(fontsize=7, loc="lower left")
        twin = ax.twinx()
        twin.plot(steps, [p["rho"] for p in curve], color="tab:gray", linestyle="--", label="rho")
        twin.set_ylabel("rho")
    else:
        ax.text(0.5, 0.5, "no ADMM stage (one-shot pruning)", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("ADMM iteration")
    ax.set_ylabel("relative residual")
    ax.set_title(f"{results['method']}: compression {results['compression']:.1f}x")
    save_figure(fig, path)


def write_report(results: Dict, out_dir: str) -> Dict[str, str]:
    """table.md (stages and layers) and residual.png in ``out_dir``; returns their paths."""
    text = ("## Stages (test accuracy)\n\n" + tables.to_markdown(stage_rows(results)) +
            "\n## Layers\n\n" + tables.to_markdown(layer_rows(results)))
    paths = {"markdown": os.path.join(out_dir, "table.md"), "residual_plot": os.path.join(out_dir, "residual.png")}
    write_text_atomic(paths["markdown"], text)
    plot_residual(results, paths["residual_plot"])
    return paths


# ---- the width study ------------------------------------------------------------------------
def _cell(record: Dict, attack: str, final_attack: bool = False) -> str:
    """natural/robust test accuracy in %: the run's own evaluation, or (``final_attack``) its final
    evaluation under one of the study's final attacks."""
    if final_attack:
        if "final_attacks" not in record:
            return "–"
        results = record["final_attacks"]["results"]
        return f"{100 * results['natural']['accuracy']:.2f}/{100 * results[attack]['accuracy']:.2f}"
    acc = _accuracies(record.get("final", record))
    return f"{100 * acc['natural']:.2f}/{100 * acc[attack]:.2f}"


def width_table(study: Dict, method: str = "admm", final_attack: str = None) -> List[Dict]:
    """The paper's Table 2: one row per width ω with natural and adversarial training, and one
    column per narrower target width with ``method`` (natural/robust test accuracy, in %), under the
    study's evaluation attack, or under ``final_attack`` (one of its final attacks)."""
    attack = final_attack or study["attack"]
    final = final_attack is not None
    widths = sorted(study["baselines"]["adversarial"], key=int)
    rows = []
    for w in widths:
        row = {"ω": w, "natural": _cell(study["baselines"]["natural"][w], attack, final),
               "adversarial": _cell(study["baselines"]["adversarial"][w], attack, final)}
        for target in widths:
            if int(target) < int(w):
                record = study["pruned"].get(method, {}).get(f"{w}->{target}")
                row[f"→{target}"] = _cell(record, attack, final) if record else "–"
            else:
                row[f"→{target}"] = "–"
        rows.append(row)
    return rows


def pair_rows(study: Dict) -> List[Dict]:
    """One row per (original width, target width, method): compression and natural/robust accuracy;
    the narrow network trained adversarially from scratch is the method ``scratch``."""
    attack = study["attack"]
    rows = []
    for method, pairs in study["pruned"].items():
        for pair, record in pairs.items():
            acc = _accuracies(record["final"])
            rows.append({"method": method, "pair": pair, "compression": record["compression"],
                         "natural": acc["natural"], attack: acc[attack]})
    for w, final in study["baselines"]["adversarial"].items():
        acc = _accuracies(final)
        rows.append({"method": "scratch", "pair": f"{w}", "compression": 1.0, "natural": acc["natural"],
                     attack: acc[attack]})
    return sorted(rows, key=lambda r: (r["method"], r["pair"]))


def plot_accuracy_vs_compression(study: Dict, path: str) -> None:
    """Robust test accuracy against the compression rate, one line per (method, original width)."""
    attack = study["attack"]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    markers = {"admm": "o", "oneshot": "s", "admm-lt": "^", "oneshot-lt": "v"}
    for method, pairs in sorted(study["pruned"].items()):
        by_source: Dict[str, list] = {}
        for pair, record in pairs.items():
            source = pair.split("->")[0]
            by_source.setdefault(source, []).append((record["compression"], _accuracies(record["final"])[attack]))
        for source, points in sorted(by_source.items(), key=lambda kv: int(kv[0])):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], marker=markers.get(method, "x"),
                    label=f"{method} from ω={source}")
    dense = study["baselines"]["adversarial"]
    top = max(dense, key=int)
    for w in dense:  # a narrow network trained from scratch, at the compression of the widest
        ratio = study["weights"][top] / study["weights"][w]
        ax.scatter([ratio], [_accuracies(dense[w])[attack]], color="black", marker="*", zorder=3)
    ax.scatter([], [], color="black", marker="*", label="adversarial from scratch")
    ax.set_xscale("log")
    ax.set_xlabel(f"compression rate (against ω={top} for scratch)")
    ax.set_ylabel(f"test accuracy under {attack}")
    ax.legend(fontsize=7)
    save_figure(fig, path)


def write_study_report(study: Dict, out_dir: str) -> Dict[str, str]:
    """table.md (Table 2 for each method, and every pair) and accuracy_vs_compression.png."""
    parts = []
    for method in sorted(study["pruned"]):
        parts.append(f"## {method}: natural/{study['attack']} test accuracy (%)\n\n"
                     + tables.to_markdown(width_table(study, method)))
        for attack in study.get("final_attacks", []):
            parts.append(f"## {method}: natural/{attack} on the first {study['final_examples'] or 'all'} test images (%)"
                         f"\n\n" + tables.to_markdown(width_table(study, method, attack)))
    warnings = [f"- {kind} ω={w}: {line}" for kind, runs in study["baselines"].items() for w, r in runs.items()
                for line in ((r.get("final_attacks") or {}).get("checks") or {}).get("warnings", [])]
    warnings += [f"- {method} {pair}: {line}" for method, pairs in study["pruned"].items() for pair, r in pairs.items()
                 for line in ((r.get("final_attacks") or {}).get("checks") or {}).get("warnings", [])]
    if warnings:
        parts.append("## Sanity warnings of the final evaluations\n\n" + "\n".join(warnings) + "\n")
    parts.append("## Every pair\n\n" + tables.to_markdown(pair_rows(study)))
    paths = {"markdown": os.path.join(out_dir, "table.md"), "plot": os.path.join(out_dir, "accuracy_vs_compression.png")}
    write_text_atomic(paths["markdown"], "\n".join(parts))
    plot_accuracy_vs_compression(study, paths["plot"])
    return paths

