"""The width study of Ye et al. (seed 000, Tables 2 and 5): is a wide robust network pruned down to
the size of a narrow one better than the narrow one trained adversarially?

For every width ω of a width-scaled model (``lenet``):
- a naturally and an adversarially trained baseline (the adversarial one is also the pretraining
  that every pipeline from ω starts from);
- for every narrower width ω' < ω, each method prunes ω down to the weight count of ω', layer by
  layer (:func:`pair_ratios`: each layer keeps as many weights as the same layer of ω'), so the
  compression rate is the ratio of the two weight counts. Methods: ``admm`` (the paper),
  ``oneshot`` (magnitude pruning of the pretrained weights, then adversarial fine-tuning) and
  ``admm-lt`` (the ADMM masks, retrained from the initial weights: Table 5).

Every run is an ordinary run directory, resumable and shared: rerunning the study redoes nothing
finished. With ``final_attacks`` (AutoAttack, say), every final model is also evaluated under them
on the first ``final_examples`` test images, with the sanity report; each evaluation is kept in
its run directory (``final_<hash>.json``), so a rerun, or a later run that adds the attacks to a
finished study, evaluates only what is missing. The record, ``<base_dir>/study.json``, is written
last.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, Optional, Sequence

from tfrobust import build, models
from tfrobust.errors import ConfigError
from tfrobust.experiment import RunDir
from tfrobust.io import write_json_atomic
from tfrobust.layers import count_weights
from tfrobust.pruning.admm_config import AdmmConfig
from tfrobust.pruning.admm_pipeline import AdmmPipeline, final_evaluation, parse_final_attacks
from tfrobust.spec import format_spec, parse_flag_spec
from tfrobust.training.loop import Trainer

METHODS = ("admm", "oneshot", "admm-lt")


def layer_weights(model_name: str, options: Dict, width: int, input_shape, num_classes: int) -> Dict[str, int]:
    """Prunable layer -> weights of the model at ``width``."""
    model = models.build_model(model_name, input_shape, num_classes, width=width, **options)
    return {name: c["total"] for name, c in count_weights(model).items() if name != "total"}


def pair_ratios(source: Dict[str, int], target: Dict[str, int]) -> Dict[str, float]:
    """Per layer, the prune ratio that leaves the ``source`` layer the ``target`` layer's weights."""
    if set(source) != set(target):
        raise ConfigError("the two widths have different layers")
    return {name: 1.0 - target[name] / source[name] for name in source}


class WidthStudy:
    """``WidthStudy(template, widths, base_dir).run()`` -> the study record.

    ``template`` is an AdmmConfig whose ``train.model`` names the width-scaled model (its width
    option is set per run) and whose ratios are replaced per pair; ``methods`` from
    :data:`METHODS`; ``lottery_from`` the widths the ``admm-lt`` method prunes from (empty: all)."""

    def __init__(self, template: AdmmConfig, widths: Sequence[int], base_dir: str, methods: Sequence[str] = METHODS,
                 lottery_from: Sequence[int] = (), data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 final_attacks: Sequence[str] = (), final_examples: int = 0):
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise ConfigError(f"--methods={','.join(methods)}: unknown method {unknown[0]!r}; allowed: {', '.join(METHODS)}")
        if not widths or any(w < 1 for w in widths) or len(set(widths)) != len(widths):
            raise ConfigError(f"--widths={','.join(map(str, widths))} is not allowed; give distinct widths >= 1")
        if template.pretrain_iters < 1:
            raise ConfigError("--pretrain_iters=0: the study's adversarial baselines are the pretraining runs; "
                              "give --pretrain_iters >= 1")
        stray = set(lottery_from) - set(widths)
        if stray:
            raise ConfigError(f"--lottery_from={','.join(map(str, lottery_from))}: {sorted(stray)[0]} is not among --widths")
        if final_examples < 0:
            raise ConfigError(f"--final_examples={final_examples} is not allowed; it must be >= 0 (0: all)")
        self.final_attacks = parse_final_attacks(final_attacks)
        self.final_examples = final_examples
        self.template, self.widths = template, sorted(widths)
        self.methods, self.lottery_from = tuple(methods), tuple(lottery_from) or tuple(widths)
        self.base_dir, self.progress, self.log_every = base_dir, progress or (lambda text: None), log_every
        self.name, self.options = parse_flag_spec("model", template.train.model, models.MODELS,
                                                  reserved=("input_shape", "num_classes", "seed", "width"))
        try:
            self.setup = build.build(self.train_config(self.widths[-1]), data_dir)
        except ConfigError as e:
            if "width" not in str(e):
                raise
            raise ConfigError(f"--model={template.train.model}: the width study needs a width-scaled model "
                              f"(one with a width option, such as lenet): {e}") from None
        shape, classes = self.setup.splits.input_shape, self.setup.splits.num_classes
        self.weights = {w: layer_weights(self.name, self.options, w, shape, classes) for w in self.widths}

    def train_config(self, width: int, **changes):
        model = format_spec(self.name, {**self.options, "width": width})
        return dataclasses.replace(self.template.train, model=model, **changes)

    def pipeline_config(self, method: str, source: int, target: int) -> AdmmConfig:
        ratios = pair_ratios(self.weights[source], self.weights[target])
        changes = {"admm_iters": 0} if method == "oneshot" else {"retrain_from": "init"} if method == "admm-lt" else {}
        return dataclasses.replace(self.template, prune_ratios=tuple(f"{n}:{r!r}" for n, r in ratios.items()),
                                   prune_ratio=0.0, train=self.train_config(source), **changes)

    def pairs(self):
        """``(method, source, target)`` for every pipeline the study runs, in order."""
        for source in self.widths:
            for target in self.widths:
                if target < source:
                    for method in self.methods:
                        if method != "admm-lt" or source in self.lottery_from:
                            yield method, source, target

    def _baseline(self, kind: str, width: int) -> Dict:
        config = self.template.stage("pretrain")
        config = self.train_config(width, experiment="pretrain" if kind == "adversarial" else "natural",
                                   train_iters=config.train_iters,
                                   **({} if kind == "adversarial" else {"objective": "natural"}))
        run = RunDir.for_config(self.base_dir, config.experiment, config, self.progress, chief=self.setup.chief)
        label = f"[{kind} ω={width}]"
        trainer = Trainer(build.build(config, strategy=self.setup.strategy, splits=self.setup.splits), run,
                          log_every=self.log_every, progress=lambda text: self.progress(f"{label} {text}"))
        final = trainer.run()["final"]
        return {"path": os.path.relpath(run.path, self.base_dir), **final, **self._final_eval(run.path)}

    def _final_eval(self, run_path: str) -> Dict:
        """``{"final_attacks": ...}`` of the run's final model, or nothing without final attacks."""
        if not self.final_attacks:
            return {}
        return {"final_attacks": final_evaluation(run_path, self.final_attacks, self.final_examples, self.setup,
                                                  self.template.train.seed, self.progress)}

    def run(self) -> Dict:
        for method, source, target in self.pairs():  # every config is valid before anything trains
            self.pipeline_config(method, source, target)
        baselines = {kind: {str(w): self._baseline(kind, w) for w in self.widths}
                     for kind in ("natural", "adversarial")}
        pruned: Dict[str, Dict] = {}
        for method, source, target in self.pairs():
            config = self.pipeline_config(method, source, target)
            setup = build.build(config.train, strategy=self.setup.strategy, splits=self.setup.splits)
            label = f"[{method} ω={source}→{target}]"
            pipeline = AdmmPipeline(config, self.base_dir, setup=setup, log_every=self.log_every,
                                    progress=lambda text, label=label: self.progress(f"{label} {text}"))
            results = pipeline.run()
            root = os.path.relpath(pipeline.root.path, self.base_dir)  # its own path, not the id its record holds
            pruned.setdefault(method, {})[f"{source}->{target}"] = {
                "path": root, "compression": results["compression"], "final": results["final"],
                "ratios": results["ratios"], **self._final_eval(os.path.join(self.base_dir, root, "retrain"))}
        attack = next(iter(self.setup.eval_attacks))
        study = {"kind": "admm_width_study", "template": self.template.to_dict(), "widths": self.widths,
                 "methods": list(self.methods), "attack": attack, "final_attacks": list(self.final_attacks),
                 "final_examples": self.final_examples,
                 "weights": {str(w): sum(self.weights[w].values()) for w in self.widths},
                 "baselines": baselines, "pruned": pruned}
        if self.setup.chief:
            write_json_atomic(os.path.join(self.base_dir, "study.json"), study)
        return study
