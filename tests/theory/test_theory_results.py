"""Results tables round-trip through CSV, and the report states each regime from them."""
import os

import numpy as np

from tfrobust.analysis import gengap as report
from tfrobust.theory import gengap, results
from tfrobust.theory.config import paper_config


def test_tables_round_trip_and_report(tmp_path):
    res = gengap.run(paper_config("gaussian_regression", reps=500, eps=(0.0, 0.5), n=(1, 2, 5, 10)))
    out = str(tmp_path)
    results.write_results(res, out)
    curves, shapes, record = report.load(out, "gaussian_regression")
    assert len(curves) == 2 * 4
    row = next(r for r in curves if r["eps"] == 0.5 and r["n"] == 10)
    v = res.variants[0]
    assert row["gap"] == v.mc.gap[1, 3] and row["loss_rob_se"] == v.mc.loss_rob_se[1, 3]
    assert row["exact_gap"] is None  # no closed form for regression
    # n = 1, 2 have an infinite expected least-squares loss and are flagged, then left out
    assert [r["std_mean_finite"] for r in curves if r["eps"] == 0.0] == [0, 0, 1, 1]
    assert all(s["source"] == "monte_carlo" and s["first_n"] == 5 for s in shapes)
    assert record["config"]["setting"] == "gaussian_regression"
    paths = report.render(out, "gaussian_regression")
    assert os.path.getsize(paths["loss"]) > 10_000 and os.path.getsize(paths["gap"]) > 10_000
    text = open(paths["summary"]).read()
    assert "n = 1, 2: the least-squares model's expected test loss is infinite" in text
    assert "eps=0: no gap" in text
    assert not [f for f in os.listdir(out) if f.endswith(".tmp") or f.endswith(".tmp.png")]
    assert np.isfinite(record["seconds_monte_carlo"])
