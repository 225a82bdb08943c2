"""ATMC results (:mod:`tfrobust.compression.atmc`) -> tables and the accuracy-vs-compression plot:
one row per reported model, with natural and robust test accuracy and both sizes (the paper's
kept weights x bits ratio, and the int8 TFLite file's bytes, raw and gzipped)."""
from __future__ import annotations

import os
from typing import Dict, List

from . import tables
from .figures import pyplot, save_figure
from tfrobust.io import write_text_atomic


def _accuracies(final: Dict, split: str = "test") -> Dict[str, float]:
    """Evaluation -> accuracy: natural first, then the attacks by name."""
    results = final.get(split, {})
    return {name: results[name]["accuracy"] for name in sorted(results, key=lambda n: (n != "natural", n))}


def _row(method: str, keep, entry: Dict, final_attacks: Dict = None) -> Dict:
    size, export = entry["size"], entry.get("export") or {}
    row = {"method": entry["label"], "keep": keep, **_accuracies(entry["final"])}
    for name, result in ((final_attacks or {}).get("results") or {}).items():
        if name != "natural":
            row[f"{name} (final)"] = result["accuracy"]
    row.update({"kept": size["kept"], "bits": size["bits"], "ratio": size["ratio"],
                "tflite_bytes": export.get("bytes"), "gzip_bytes": export.get("gzip_bytes"),
                "agreement": export.get("agreement")})
    return row


def model_rows(results: Dict) -> List[Dict]:
    """One row per model of one pipeline's results."""
    return [_row(results["method"], results["keep"], e, e.get("final_attacks")) for e in results["models"]]


def study_rows(study: Dict) -> List[Dict]:
    """Every model of the study, the dense reference (DA) first, then by method and budget."""
    rows = []
    for record in study["runs"]:
        for e in record["models"]:
            keep = "-" if record["method"] in ("da", "qat") else record["keep"]
            rows.append(_row(record["method"], keep, e, e.get("final_attacks")))
    order = {"DA": 0}
    return sorted(rows, key=lambda r: (order.get(r["method"], 1), r["method"], -r["ratio"]))


def plot_accuracy_vs_compression(study: Dict, path: str) -> None:
    """Natural, PGD and (when the study has one) final-attack test accuracy against the compression
    ratio (log x), one line per method; the dense model as a horizontal reference."""
    rows = study_rows(study)
    keys = list(rows[0]) if rows else []
    panels = [("natural", "natural")]
    panels += [(k, "PGD") for k in keys if k.startswith("pgd")][:1]
    panels += [(k, k.split(":")[0].replace(" (final)", "")) for k in keys if k.endswith("(final)")][:1]
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (key, short) in zip(axes[0], panels):
        by_method: Dict[str, list] = {}
        for r in rows:
            if r.get(key) is not None:
                by_method.setdefault(r["method"], []).append((r["ratio"], r[key]))
        for method, points in sorted(by_method.items()):
            points.sort()
            if method == "DA":
                ax.axhline(points[0][1], color="black", linestyle="--", label="DA (dense)")
                continue
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("compression ratio (kept weights x bits / dense x 32)")
        ax.set_ylabel(f"test accuracy, {short}")
        ax.set_title(key, fontsize=7)
        ax.legend(fontsize=7)
    save_figure(fig, path)


def write_report(results: Dict, out_dir: str) -> str:
    """table.md of one pipeline in ``out_dir``; returns its path."""
    path = os.path.join(out_dir, "table.md")
    write_text_atomic(path, tables.to_markdown(model_rows(results)))
    return path


def write_study_report(study: Dict, out_dir: str) -> Dict[str, str]:
    """table.md (every model, both sizes) and accuracy_vs_compression.png in ``out_dir``."""
    paths = {"markdown": os.path.join(out_dir, "table.md"), "plot": os.path.join(out_dir, "accuracy_vs_compression.png")}
    dense = study.get("dense_export") or {}
    text = ("## Test accuracy and size of every model\n\n" + tables.to_markdown(study_rows(study)) +
            f"\nThe dense model's int8 TFLite file: {dense.get('bytes')} bytes ({dense.get('gzip_bytes')} gzipped).\n")
    write_text_atomic(paths["markdown"], text)
    plot_accuracy_vs_compression(study, paths["plot"])
    return paths
