"""Gap run files (``tfrobust.theory.results``) -> test-loss and gap plots (PNG) and a markdown summary.

    python -m analysis.gengap --output_dir=results/gengap/gaussian      # re-render every setting there

For setting ``S`` it reads ``S_curves.csv``, ``S_shapes.csv`` and ``S_run.json`` and writes
``S_loss.png``, ``S_gap.png`` and ``S_summary.md``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict
from typing import Dict, List, Optional

from . import tables
from .figures import pyplot, save_figure
from tfrobust.io import write_text_atomic
from tfrobust.theory.settings import SETTINGS

SOURCE_NAMES = {"monte_carlo": "Monte Carlo", "exact": "exact", "exact_horizon": "exact, long horizon"}


def _number(text: str):
    if text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return text
    return value


def read_csv(path: str) -> List[Dict]:
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def load(output_dir: str, setting: str):
    base = os.path.join(output_dir, setting)
    with open(base + "_run.json") as f:
        record = json.load(f)
    return read_csv(base + "_curves.csv"), read_csv(base + "_shapes.csv"), record


def _curves_by_key(curves: List[Dict]):
    """``{(tau, eps): [rows sorted by n]}``."""
    groups = defaultdict(list)
    for row in curves:
        groups[(row["tau"], row["eps"])].append(row)
    return {k: sorted(v, key=lambda r: r["n"]) for k, v in sorted(groups.items(), key=_key_order)}


def _key_order(item):
    (tau, eps), _ = item
    return (-1.0 if tau is None else tau, eps)


def _label(tau, eps) -> str:
    return (f"tau={tau:g}, " if tau is not None else "") + f"eps={eps:g}"


def _finite_rows(rows):
    return [r for r in rows if r["std_mean_finite"] != 0]


def plot_losses(curves: List[Dict], setting: str, path: str) -> None:
    """Test loss against n: the standard model (per tau) and the robust model per eps; Monte Carlo
    with +-1 SE bars, the exact expectation (where known) dashed beside it."""
    plt = pyplot()
    groups = _curves_by_key(curves)
    colours = plt.cm.viridis([i / max(1, len(groups) - 1) for i in range(len(groups))])
    fig, ax = plt.subplots(figsize=(8, 5))
    standard_done = set()
    for colour, ((tau, eps), rows) in zip(colours, groups.items()):
        rows = _finite_rows(rows)
        n = [r["n"] for r in rows]
        if tau not in standard_done:
            standard_done.add(tau)
            std_colour = "black" if tau is None else colour
            ax.errorbar(n, [r["loss_std"] for r in rows], yerr=[r["loss_std_se"] or 0 for r in rows],
                        color=std_colour, marker="s", ms=3, lw=1.5, ls=":" if tau is not None else "-",
                        label="standard" + (f" (tau={tau:g})" if tau is not None else ""))
            if rows[0]["exact_loss_std"] is not None:
                ax.plot(n, [r["exact_loss_std"] for r in rows], color=std_colour, ls="--", lw=1)
        if eps == 0:
            continue
        ax.errorbar(n, [r["loss_rob"] for r in rows], yerr=[r["loss_rob_se"] or 0 for r in rows],
                    color=colour, marker="o", ms=2.5, lw=1, label="robust, " + _label(tau, eps))
        if rows[0]["exact_loss_rob"] is not None:
            ax.plot(n, [r["exact_loss_rob"] for r in rows], color=colour, ls="--", lw=1)
    _decorate(ax, curves, setting, "natural test loss")
    save_figure(fig, path, dpi=130, bbox_inches="tight")


def plot_gaps(curves: List[Dict], shapes: List[Dict], setting: str, path: str) -> None:
    """Gap (robust minus standard test loss) against n per eps; peaks marked."""
    plt = pyplot()
    groups = {k: v for k, v in _curves_by_key(curves).items() if k[1] != 0}
    colours = plt.cm.viridis([i / max(1, len(groups) - 1) for i in range(len(groups))])
    peaks = {(s["tau"], s["eps"], s["source"]): s for s in shapes}
    fig, ax = plt.subplots(figsize=(8, 5))
    for colour, ((tau, eps), rows) in zip(colours, groups.items()):
        rows = _finite_rows(rows)
        n = [r["n"] for r in rows]
        ax.errorbar(n, [r["gap"] for r in rows], yerr=[r["gap_se"] or 0 for r in rows], color=colour,
                    marker="o", ms=2.5, lw=1, label=_label(tau, eps))
        exact = rows[0]["exact_gap"] is not None
        if exact:
            ax.plot(n, [r["exact_gap"] for r in rows], color=colour, ls="--", lw=1)
        shape = peaks.get((tau, eps, "exact" if exact else "monte_carlo"))
        if shape and shape["regime"] == "increase-then-decrease":
            ax.plot([shape["peak_n"]], [shape["peak_gap"]], marker="*", ms=11, color=colour, mec="k")
    ax.axhline(0.0, color="grey", lw=0.5)
    _decorate(ax, curves, setting, "gap = loss(robust) - loss(standard)")
    save_figure(fig, path, dpi=130, bbox_inches="tight")


def _decorate(ax, curves, setting, ylabel):
    reps = curves[0]["reps"]
    exact = any(r["exact_gap"] is not None for r in curves)
    hidden = sorted({r["n"] for r in curves if r["std_mean_finite"] == 0})
    title = f"{setting}: Monte Carlo over {reps:,} training sets per n (+-1 SE)"
    if exact:
        title += "; dashed: exact"
    if hidden:
        title += f"\n(n = {', '.join(map(str, hidden))} left out: E[least-squares test loss] is infinite there)"
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("training-set size n")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))


def _fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _peak(shape: Optional[Dict]) -> str:
    if not shape:
        return ""
    if shape["regime"] in ("increasing", "flat"):  # no interior peak: report where the curve ends
        return f"{shape['regime']}, gap {_fmt(shape['last_gap'])} at n={shape['last_n']:,}"
    text = f"{shape['regime']}, peak n={shape['peak_n']}, gap {_fmt(shape['peak_gap'])}"
    if shape["peak_se"] is not None:
        text += f" +- {_fmt(shape['peak_se'], 2)}"
    return text


def statements(shapes: List[Dict]) -> List[str]:
    """One sentence per (tau, eps): the regime and the peak, from the exact curve when there is one."""
    by_key = defaultdict(dict)
    for s in shapes:
        by_key[(s["tau"], s["eps"])][s["source"]] = s
    lines = []
    for (tau, eps), src in sorted(by_key.items(), key=lambda kv: (-1.0 if kv[0][0] is None else kv[0][0], kv[0][1])):
        main = src.get("exact") or src.get("monte_carlo")
        mc = src.get("monte_carlo")
        if main is None:
            continue
        head = f"{_label(tau, eps)}: "
        if main["regime"] == "flat":
            if main["peak_gap"] == 0 and main["last_gap"] == 0 and main["first_gap"] == 0:
                lines.append(head + "no gap: the robust model is the standard model here.")
            else:
                lines.append(head + f"no significant change over n = {main['first_n']}..{main['last_n']} "
                             f"(gap {_fmt(main['last_gap'])} at n={main['last_n']}; more repetitions "
                             "would resolve it).")
            continue
        if main["regime"] == "increase-then-decrease":
            text = (f"the gap increases then decreases; it peaks at n={main['peak_n']} "
                    f"(gap {_fmt(main['peak_gap'])}")
            if main["peak_se"] is not None:
                text += f" +- {_fmt(main['peak_se'], 2)}"
        elif main["regime"] == "increasing":
            text = (f"the gap keeps increasing over n = {main['first_n']}..{main['last_n']} "
                    f"(gap {_fmt(main['last_gap'])} at n={main['last_n']}")
            if main["last_se"] is not None:
                text += f" +- {_fmt(main['last_se'], 2)}"
        else:
            text = f"the gap is {main['regime']} (peak n={main['peak_n']}, gap {_fmt(main['peak_gap'])}"
        if main["source"] == "exact" and mc:
            text += f"; Monte Carlo: {_peak(mc)}"
        text += ")"
        far = src.get("exact_horizon")
        if far:
            if far["regime"] == "increase-then-decrease":
                text += (f"; over n <= {far['last_n']:,} it peaks at n={far['peak_n']} "
                         f"(gap {_fmt(far['peak_gap'])}) and falls to {_fmt(far['last_gap'])}")
            elif far["regime"] == "increasing":
                text += f"; over n <= {far['last_n']:,} it keeps increasing, to {_fmt(far['last_gap'])}"
        text += {"strong": "; paper: strong adversary (keeps increasing)",
                 "weak": "; paper: weak adversary (increases, then decreases)",
                 "mixed": "; paper: strong for some coordinates, weak for others"}.get(main["paper_regime"], "")
        lines.append(head + text + ".")
    return lines


def summary_markdown(curves: List[Dict], shapes: List[Dict], record: Dict) -> str:
    config = record["config"]
    setting = config["setting"]
    n = sorted({r["n"] for r in curves})
    out = [f"# Cross-generalization gap: {setting}", ""]
    params = {k: config[k] for k in SETTINGS.get(setting).options}
    out.append(f"Model: {setting} ({', '.join(f'{k}={v}' for k, v in params.items())}, d={config['dim']}); "
               f"eps = {', '.join(f'{e:g}' for e in config['eps'])}; n = {n[0]}..{n[-1]} "
               f"({len(n)} sizes); {config['reps']:,} repetitions; seed {config['seed']}.")
    out.append("")
    out.append(f"Time: Monte Carlo {record['seconds_monte_carlo']:.2f} s, exact curves "
               f"{record['seconds_exact']:.2f} s" + (f", whole run {record['seconds_total']:.2f} s"
                                                      if "seconds_total" in record else "") + ".")
    if record.get("command"):
        out.append(f"Command: `{record['command']}`")
    if record.get("max_abs_z_gap_vs_exact") is not None:
        points = sum(1 for r in curves if r["exact_gap"] is not None and r["eps"] != 0)
        out.append(f"Monte Carlo vs exact gap: largest |difference| / SE = "
                   f"{record['max_abs_z_gap_vs_exact']:.2f} over {points} points.")
    hidden = sorted({r["n"] for r in curves if r["std_mean_finite"] == 0})
    if hidden:
        out.append(f"n = {', '.join(map(str, hidden))}: the least-squares model's expected test loss is "
                   "infinite (inverse chi-square moment), so its Monte Carlo mean there does not "
                   "converge; those n are left out of the plots and of the shape analysis.")
    if SETTINGS.get(setting).note:
        out.append(SETTINGS.get(setting).note)
    out += ["", "## The gap per eps", ""]
    out += [f"- {line}" for line in statements(shapes)]
    out += ["", "## Shapes by source", ""]
    by_key = defaultdict(dict)
    for s in shapes:
        by_key[(s["tau"], s["eps"])][s["source"]] = s
    rows = []
    for (tau, eps), src in sorted(by_key.items(), key=lambda kv: (-1.0 if kv[0][0] is None else kv[0][0], kv[0][1])):
        row = {"tau": "" if tau is None else f"{tau:g}", "eps": f"{eps:g}"}
        for source, name in SOURCE_NAMES.items():
            if any(source in v for v in by_key.values()):
                row[name] = _peak(src.get(source))
        rows.append(row)
    if not any(r["tau"] for r in rows):
        for r in rows:
            del r["tau"]
    out.append(tables.to_markdown(rows).rstrip() if rows else
               f"(none: {config['reps']} repetition(s) give no standard errors)")
    out += ["", "Regimes are decided with a 3-standard-error test on the paired Monte Carlo "
            "differences (peak vs first and last n), or exactly for the exact curves.", ""]
    return "\n".join(out)


def render(output_dir: str, setting: str) -> Dict[str, str]:
    """Writes ``S_loss.png``, ``S_gap.png`` and ``S_summary.md``; returns their paths."""
    curves, shapes, record = load(output_dir, setting)
    base = os.path.join(output_dir, setting)
    paths = {"loss": base + "_loss.png", "gap": base + "_gap.png", "summary": base + "_summary.md"}
    plot_losses(curves, setting, paths["loss"])
    plot_gaps(curves, shapes, setting, paths["gap"])
    write_text_atomic(paths["summary"], summary_markdown(curves, shapes, record))
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--setting", default=None, help="one setting; default: every *_run.json there")
    args = parser.parse_args(argv)
    settings = [args.setting] if args.setting else sorted(
        f[: -len("_run.json")] for f in os.listdir(args.output_dir) if f.endswith("_run.json"))
    if not settings:
        print(f"error: no *_run.json in {args.output_dir}", file=sys.stderr)
        return 2
    for setting in settings:
        for path in render(args.output_dir, setting).values():
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
