"""metrics.jsonl of a run -> accuracy against training iteration, one line per evaluation."""
from __future__ import annotations

from typing import Dict, List

from .figures import pyplot, save_figure


def plot_curves(metrics: List[Dict], path: str, title: str = "") -> None:
    """Validation (solid) and test (dashed) accuracy of each evaluation against iteration; PNG."""
    plt = pyplot()

    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(metrics[-1]["test"]) if metrics else []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        for split, style in (("valid", "-"), ("test", "--")):
            if split in metrics[-1]:
                acc = [100 * m[split][name]["accuracy"] for m in metrics]
                ax.plot(steps, acc, style, marker="o", color=colors[i % len(colors)],
                        label=f"{name} ({split})")
    ax.set_xlabel("training iteration")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title)
    save_figure(fig, path)
