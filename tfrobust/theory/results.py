"""Gap results as tables (one row per tau, eps, n; one per tau, eps, shape source), written atomically
(``tfrobust.io``: temporary file in the same directory, then rename).

Files for setting ``S`` in an output directory:

* ``S_curves.csv``: ``tau, eps, n, reps, loss_std, loss_std_se, loss_rob, loss_rob_se, gap, gap_se,
  exact_loss_std, exact_loss_rob, exact_gap, std_mean_finite`` (exact columns empty where there is
  no closed form; ``std_mean_finite`` is 0 where the standard model's expected loss is infinite).
* ``S_shapes.csv``: ``tau, eps, source, regime, peak_n, peak_gap, peak_se, first_n, first_gap,
  last_n, last_gap, last_se, rise, drop, unimodal, paper_regime``.
* ``S_run.json``: the config, timings and the Monte Carlo / exact agreement.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from typing import Dict, Iterable, List, Sequence

from tfrobust.io import write_json_atomic, write_text_atomic
from tfrobust.theory.config import paper_regime
from tfrobust.theory.gengap import GapResults

CURVE_COLUMNS = ("tau", "eps", "n", "reps", "loss_std", "loss_std_se", "loss_rob", "loss_rob_se",
                 "gap", "gap_se", "exact_loss_std", "exact_loss_rob", "exact_gap", "std_mean_finite")
SHAPE_COLUMNS = ("tau", "eps", "source", "regime", "peak_n", "peak_gap", "peak_se", "first_n",
                 "first_gap", "last_n", "last_gap", "last_se", "rise", "drop", "unimodal",
                 "paper_regime")


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def to_csv(rows: Iterable[Dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return out.getvalue()


def curve_rows(results: GapResults) -> List[Dict]:
    rows = []
    for v in results.variants:
        mc = v.mc
        for e, eps in enumerate(mc.eps):
            for k, n in enumerate(mc.n):
                exact = v.exact_rob is not None
                rows.append(dict(
                    tau=v.tau, eps=float(eps), n=int(n), reps=mc.reps,
                    loss_std=float(mc.loss_std[k]), loss_std_se=float(mc.loss_std_se[k]),
                    loss_rob=float(mc.loss_rob[e, k]), loss_rob_se=float(mc.loss_rob_se[e, k]),
                    gap=float(mc.gap[e, k]), gap_se=float(mc.gap_se[e, k]),
                    exact_loss_std=float(v.exact_std[k]) if exact else None,
                    exact_loss_rob=float(v.exact_rob[e, k]) if exact else None,
                    exact_gap=float(v.exact_gap[e, k]) if exact else None,
                    std_mean_finite=True if v.std_infinite is None else not bool(v.std_infinite[k])))
    return rows


def shape_rows(results: GapResults) -> List[Dict]:
    rows = []
    for rec in results.shapes:
        row = dict(tau=rec.tau, eps=rec.eps, source=rec.source, **dataclasses.asdict(rec.shape))
        row["paper_regime"] = paper_regime(results.config, rec.tau, rec.eps)
        rows.append(row)
    return rows


def run_record(results: GapResults, extra: Dict | None = None) -> Dict:
    config = dataclasses.asdict(results.config)
    return dict(config=config, seconds_monte_carlo=results.seconds_mc,
                seconds_exact=results.seconds_exact, max_abs_z_gap_vs_exact=results.max_abs_z,
                **(extra or {}))


def write_results(results: GapResults, output_dir: str, extra: Dict | None = None) -> List[str]:
    """Write the three files of :mod:`this module <tfrobust.theory.results>`; returns their paths."""
    setting = results.config.setting
    paths = [os.path.join(output_dir, f"{setting}_{name}") for name in
             ("curves.csv", "shapes.csv", "run.json")]
    write_text_atomic(paths[0], to_csv(curve_rows(results), CURVE_COLUMNS))
    write_text_atomic(paths[1], to_csv(shape_rows(results), SHAPE_COLUMNS))
    write_json_atomic(paths[2], run_record(results, extra))
    return paths
