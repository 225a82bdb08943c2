"""Re-evaluates the tickets of a lottery search (and optional extra models) with
flags/lottery_autoattack.cfg, then tabulates accuracy per model, eps and method.

    .venv/bin/python scripts/lottery_autoattack.py results/lottery/reinit_orig/<id> results/lottery_aa \
        [--trial=0] [--extra=dense_at=results/lottery_dense_at/<id>/model.keras]

Each model is evaluated by ``python -m runs.attack`` (results.json with the sanity report in
<out>/<model>/); a model already evaluated is skipped. Writes <out>/table.md and table.csv.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("search_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--trial", type=int, default=0)
    parser.add_argument("--extra", action="append", default=[], help="label=model.keras")
    args = parser.parse_args()
    models = {}
    for label_path in args.extra:
        label, _, path = label_path.partition("=")
        models[label] = path
    for path in sorted(glob.glob(os.path.join(args.search_dir, f"trial_{args.trial}", "round_*", "model.keras"))):
        weights = json.load(open(os.path.join(os.path.dirname(path), "results.json")))["final"]["weights"]
        models[f"ticket {100 * weights['total']['fraction']:.2f}%"] = path
    if not models:
        sys.exit(f"error: no model under {args.search_dir}/trial_{args.trial}/round_*/")
    records = {}
    for label, path in models.items():
        out = os.path.join(args.out_dir, label.replace(" ", "_").replace("%", "pct"))
        if not os.path.exists(os.path.join(out, "results.json")):
            print(f"evaluating {label}: {path}", flush=True)
            subprocess.run([sys.executable, "-m", "runs.attack", "--flagfile=flags/lottery_autoattack.cfg",
                            f"--model_path={path}", f"--output_dir={out}", "--quiet"], cwd=ROOT, check=True)
        records[label] = json.load(open(os.path.join(out, "results.json")))

    from tfrobust.analysis import robustness, tables
    from tfrobust.io import write_text_atomic

    rows = robustness.eps_rows(records)
    write_text_atomic(os.path.join(args.out_dir, "table.md"), tables.to_markdown(rows, digits=1))
    write_text_atomic(os.path.join(args.out_dir, "table.csv"), tables.to_csv(rows))
    print(tables.to_markdown(rows, digits=1), end="")
    for label, record in records.items():
        for line in (record.get("checks") or {}).get("warnings", []):
            print(f"{label}: warning: {line}")


if __name__ == "__main__":
    main()
