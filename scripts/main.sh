#!/usr/bin/env bash
# The main job: sets up everything, then runs a quick robust-lottery-ticket search on Fashion-MNIST
# (flags/quickstart.cfg: dense-300-100, FGSM adversarial training, 2 trials x 4 pruning rounds) and
# prints the table of test accuracy (natural, FGSM, PGD) against remaining weights. The run
# directory results/quickstart/reinit_orig/<id>/ holds config.json, results.json, table.md,
# table.csv, accuracy_vs_weights.png, curves.png, early_stopping.png and trial_*/round_*/ (each a
# training run: metrics.jsonl, checkpoints/, tb/ for TensorBoard, model.keras).
# Extra arguments go to runs.lottery (e.g. --force, --trials=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m runs.lottery --flagfile=flags/quickstart.cfg "$@"
