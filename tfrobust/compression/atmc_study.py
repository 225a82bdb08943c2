"""ATMC's MNIST figure (seed 002), on any dataset: natural and robust accuracy against the
compression ratio for ATMC and every baseline, at several budgets.

Each (method, budget) is one :class:`~tfrobust.compression.atmc.AtmcPipeline`, all on one setup;
they share the dense stages, so the study trains one adversarial and one natural dense model. DA
and QAT do not depend on the budget and run once. With ``final_attacks`` (AutoAttack, say),
every final model except tfmot's QAT model (which does not reload: see
:mod:`tfrobust.compression.qat`) is also evaluated under them on the first ``final_examples``
test images, with the sanity report, kept in its run directory. The record,
``<base_dir>/study.json``, is written last.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Optional, Sequence

from tfrobust import build
from tfrobust.compression.atmc import AtmcPipeline
from tfrobust.compression.atmc_config import METHODS, AtmcConfig
from tfrobust.compression.l0 import check_keep
from tfrobust.errors import ConfigError
from tfrobust.io import path_inside, write_json_atomic
from tfrobust.pruning.admm_pipeline import final_evaluation, parse_final_attacks

BUDGET_FREE = ("da", "qat")  # methods whose model does not depend on --keep


class AtmcStudy:
    """``AtmcStudy(template, methods, keeps, base_dir).run()`` -> the study record."""

    def __init__(self, template: AtmcConfig, methods: Sequence[str], keeps: Sequence[float], base_dir: str,
                 data_dir: Optional[str] = None, progress: Optional[Callable[[str], None]] = None,
                 log_every: int = 100, final_attacks: Sequence[str] = (), final_examples: int = 0):
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise ConfigError(f"--methods={','.join(methods)}: unknown method {(unknown or [''])[0]!r}; "
                              f"allowed: {', '.join(METHODS)}")
        if not keeps:
            raise ConfigError("--keeps is empty: give the budgets (kept fractions in (0, 1])")
        for keep in keeps:
            check_keep(keep, "keeps")
        if final_examples < 0:
            raise ConfigError(f"--final_examples={final_examples} is not allowed; it must be >= 0 (0: all)")
        self.template, self.methods, self.keeps = template, tuple(methods), tuple(dict.fromkeys(keeps))
        self.final_attacks, self.final_examples = parse_final_attacks(final_attacks), final_examples
        self.base_dir, self.progress, self.log_every = base_dir, progress or (lambda text: None), log_every
        self.configs = [dataclasses.replace(template, method=m, keep=k) for m in self.methods
                        for k in (self.keeps[:1] if m in BUDGET_FREE else self.keeps)]
        self.setup = build.build(template.train, data_dir)

    def run(self) -> Dict:
        runs = []
        for i, config in enumerate(self.configs):
            self.progress(f"[{i + 1}/{len(self.configs)}] {config.method} keep={config.keep:g}")
            pipeline = AtmcPipeline(config, self.base_dir, progress=self.progress, log_every=self.log_every,
                                    setup=self.setup)
            record = pipeline.run()
            if self.final_attacks:
                entries = [entry for entry in record["models"] if entry["stage"] != "qat"]
                paths = [path_inside(self.base_dir, entry["path"], pipeline.root.results_path) for entry in entries]
                for entry, path in zip(entries, paths):
                    entry["final_attacks"] = final_evaluation(path, self.final_attacks, self.final_examples,
                                                              self.setup, config.train.seed, self.progress)
            runs.append(record)
        dense = next((r["dense"] for r in runs if r["method"] != "nap"), runs[0]["dense"])
        study = {"kind": "atmc_study", "template": self.template.to_dict(), "methods": list(self.methods),
                 "keeps": list(self.keeps), "runs": runs, "dense_export": dense["export"],
                 "final_attacks": sorted(self.final_attacks), "final_examples": self.final_examples}
        if self.setup.chief:
            write_json_atomic(os.path.join(self.base_dir, "study.json"), study)
        return study
