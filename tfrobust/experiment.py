"""Config -> experiment id -> run directory, and the records a run directory holds.

``<base_dir>/<experiment>/<id>/`` holds ``config.json``, ``metrics.jsonl`` (one line per evaluation
point), ``results.json`` (written last: its presence means the run finished), ``checkpoints/`` and
``tb/`` (TensorBoard events). The id is the first 12 hex digits of the SHA-256 of the canonical
JSON of the config, so the same config always finds the same directory and two configs never share
one.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Dict, List

from tfrobust.errors import ConfigError
from tfrobust.io import write_json_atomic, write_text_atomic


def canonical_json(config: dict) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def experiment_id(config: dict) -> str:
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:12]


class RunDir:
    """The directory of one run and its files."""

    def __init__(self, base_dir: str, experiment: str, config: dict, path: str = None):
        """``path`` overrides ``<base_dir>/<experiment>/<id>`` (runs nested in a larger experiment)."""
        if not experiment or os.sep in experiment or experiment.startswith("."):
            raise ConfigError(f"--experiment={experiment!r} must be a plain directory name")
        self.config = config
        self.id = experiment_id(config)
        self.path = path or os.path.join(base_dir, experiment, self.id)
        self.config_path = os.path.join(self.path, "config.json")
        self.metrics_path = os.path.join(self.path, "metrics.jsonl")
        self.results_path = os.path.join(self.path, "results.json")
        self.checkpoint_dir = os.path.join(self.path, "checkpoints")
        self.tb_dir = os.path.join(self.path, "tb")

    @property
    def finished(self) -> bool:
        return os.path.exists(self.results_path)

    def wipe(self) -> None:
        """Deletes the run directory (``--force``)."""
        if os.path.isdir(self.path):
            shutil.rmtree(self.path)

    def prepare(self) -> None:
        """Creates the directory and checks or writes config.json."""
        os.makedirs(self.path, exist_ok=True)
        if os.path.exists(self.config_path):
            with open(self.config_path) as f:
                if json.load(f) != self.config:
                    raise ConfigError(f"{self.config_path} holds a different config (hash collision?)")
        else:
            write_json_atomic(self.config_path, self.config)

    def read_metrics(self) -> List[Dict]:
        if not os.path.exists(self.metrics_path):
            return []
        with open(self.metrics_path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def append_metrics(self, record: Dict) -> None:
        """Appends one line; the whole file is rewritten atomically so a kill never tears it."""
        lines = [json.dumps(r, sort_keys=True) for r in self.read_metrics()]
        lines.append(json.dumps(record, sort_keys=True))
        write_text_atomic(self.metrics_path, "\n".join(lines) + "\n")

    def truncate_metrics(self, last_step: int) -> None:
        """Drops records after ``last_step`` (written after the checkpoint a resumed run restarts from)."""
        kept = [r for r in self.read_metrics() if r["step"] <= last_step]
        write_text_atomic(self.metrics_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept))

    def write_results(self, results: Dict) -> None:
        write_json_atomic(self.results_path, results)

    def read_results(self) -> Dict:
        with open(self.results_path) as f:
            return json.load(f)
