#!/usr/bin/env bash
# Sets up everything tfrobust needs, idempotently: the Debian package dataset-fashion-mnist (where
# apt is available), a virtual environment .venv with the pinned requirements, and tfrobust itself
# installed in development mode. A second run with unchanged requirements takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "setup: installing dataset-fashion-mnist with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
    echo "setup: installing dataset-fashion-mnist with sudo apt-get"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
  else
    echo "setup: apt-get is not available; Fashion-MNIST will need --data_dir or tensorflow-datasets" >&2
  fi
fi

stamp=.venv/.setup-stamp
want="$(cat requirements.txt pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: creating .venv and installing requirements.txt (first run: a few minutes)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  if ! .venv/bin/python -m pip install -q --no-build-isolation -e . > .venv/install.log 2>&1; then
    cat .venv/install.log >&2; echo "setup: installing tfrobust failed (above)" >&2; exit 1
  fi
  echo "$want" > "$stamp"
fi
