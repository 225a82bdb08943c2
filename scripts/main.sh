#!/usr/bin/env bash
# The main job: sets up everything, then adversarially trains dense-300-100 on Fashion-MNIST (PGD,
# eps 0.1) for 3,000 iterations and prints natural, FGSM and PGD test accuracy. The run directory
# results/quickstart/<id>/ holds config.json, metrics.jsonl, results.json, model.keras,
# checkpoints/, tb/ (TensorBoard), table.md, table.csv, accuracy.png and curves.png.
# Extra arguments go to runs.train (e.g. --force, --train_iters=500).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m runs.train --flagfile=flags/quickstart.cfg --base_dir=results "$@"
