#!/usr/bin/env bash
# The main job: sets up everything, then trains dense-300-100 briefly on Fashion-MNIST and evaluates
# it naturally and under FGSM, PGD and Gaussian noise. Writes results/quickstart/{model.keras,
# results.json, table.md, table.csv, accuracy.png} and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${OUT:-results/quickstart}
.venv/bin/python -m runs.train --model=dense-300-100 --dataset=fashion_mnist --train_iters=2000 \
  --batch_size=60 --output="$OUT/model.keras" "$@"
.venv/bin/python -m runs.attack --model_path="$OUT/model.keras" --dataset=fashion_mnist \
  --attacks=fgsm:eps=0.1 --attacks=pgd:eps=0.1,step_size=0.01,steps=20 \
  --attacks=pgd:eps=0.05,step_size=0.005,steps=20 --attacks=gaussian_noise:std=0.2 \
  --output_dir="$OUT"
