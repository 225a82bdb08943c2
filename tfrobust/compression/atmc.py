"""ATMC (Gui et al., "Model Compression with Adversarial Robustness: A Unified Optimization
Framework", NeurIPS 2019; seed 002) and its baselines, as one resumable pipeline.

Every method starts from a dense stage (adversarial training with the setup's objective, ATMC's
``0.5 CE(clean) + 0.5 CE(PGD)``; natural training for NAP), shared by every method and budget
that trains the same way. Then, for a budget ``keep`` (the fraction of the dense model's weights
that may stay nonzero):

- ``atmc``: each layer becomes ``W = B(A + I) + C`` (:mod:`tfrobust.layers.factorized`) at full
  rank (or ``ranks``), B and A from the SVD of the dense weights and C = 0, as the reference
  starts, so the factorized network computes the dense one; then adversarial training under the
  global l0 projection over B, A and C together (:mod:`.l0`; k = keep x the dense weights), the
  ``atmc32`` stage; then the ``atmcb`` stage adds the quantization constraint (at most 2**bits
  values per variable) through ADMM (:mod:`.quant_admm`) on the support the 32-bit stage ended
  with (its masks), and ends on the b-bit weights. Under a projection after every step, a group
  of entries that starts at zero stays there (a gradient step is far below the budget's
  threshold), so C, which starts at 0, keeps little of the budget, as in the reference. The
  32-bit stage is shared by every bit width (``<base_dir>/atmc32/<id>``). With
  ``factorized=False`` the same runs on the plain weights.
- ``da``: the dense stage itself; ``nap``: natural dense training, tensorflow-model-optimization's
  ``prune_low_magnitude`` to ``1 - keep`` in every layer, natural fine-tuning under the masks;
  ``ap``: DA, global magnitude pruning to ``keep``, adversarial fine-tuning under the masks;
  ``al0``: DA, then adversarial training under the l0 projection; ``alr``: DA, each layer
  truncated by SVD to the ranks that keep the largest ``keep`` share of all singular values
  (or ``ranks``), then adversarial fine-tuning of the factors; ``qat``: DA, then
  tensorflow-model-optimization's quantization-aware adversarial fine-tuning (``bits``-bit weights, 2 to 8).

Each reported model gets its size two ways (:mod:`.size`): as the paper counts it (kept weights x
bits / dense weights x 32), and as the bytes of its TFLite file (int8 weights) and of that file
gzipped, with the exported model's agreement with the Keras model. Layout::

    <base_dir>/dense/<id>/            the dense stage (shared)
    <base_dir>/atmc32/<id>/           ATMC's 32-bit stage (shared by every --bits)
    <base_dir>/atmc/<id>/config.json  the AtmcConfig, less the fields its method ignores (its id)
                         <stage>/     each later stage: a run directory, model.tflite, export.json
                         results.json written last: one entry per reported model
"""
from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

import numpy as np

from tfrobust import build, records
from tfrobust.compression.atmc_config import QUANTIZATION, AtmcConfig, parse_ranks
from tfrobust.compression.l0 import L0Projection, budget, l0_masks
from tfrobust.compression.quant_admm import QuantizationAdmm
from tfrobust.compression.size import export_record, read_export
from tfrobust.config import run_id
from tfrobust.errors import ConfigError, TfrobustError
from tfrobust.experiment import RunDir, StagedRun
from tfrobust.hparams import study_values
from tfrobust.layers.compressible import compressible_layers, prunable_variables
from tfrobust.training.hooks import Hook, StartFrom
from tfrobust.training.loop import Trainer

LABELS = {"atmc32": "ATMC-32bit", "da": "DA", "nap": "NAP", "ap": "AP", "al0": "Al0", "alr": "ALR"}


class AtmcPipeline(StagedRun):
    """One method at one budget: ``AtmcPipeline(config, base_dir).run()`` -> its results record."""

    results_schema = records.ATMC

    def __init__(self, config: AtmcConfig, base_dir: str, data_dir: Optional[str] = None,
                 progress: Optional[Callable[[str], None]] = None, log_every: int = 100,
                 wait_for_lock: float = 0.0, setup=None, export_examples: int = 256):
        config = config.canonical()
        self.config, self.base_dir = config, base_dir
        self.progress = progress or (lambda text: None)
        self.log_every, self.wait_for_lock, self.export_examples = log_every, wait_for_lock, export_examples
        self.setup = setup.with_config(config.train) if setup is not None else build.build(config.train, data_dir)
        self.chief = self.setup.chief
        self.root = RunDir.for_config(base_dir, "atmc", config, self.progress, chief=self.chief)

    # ---- checks and the models each stage trains ------------------------------------------------
    def check(self) -> None:
        """Builds the models once: a bad rank or layer name fails before anything is written."""
        model = self.setup.new_model()
        self.dense_weights = sum(int(np.prod(p.variable.shape)) for p in prunable_variables(model))
        if not self.dense_weights:
            raise ConfigError(f"--model={self.config.train.model} has no prunable layers to compress")
        self._export_inputs = next(iter(self.setup.splits.test.unbatch().batch(self.export_examples)))[0].numpy()
        from tfrobust.compression.export import check_exportable

        check_exportable(model)  # a layer TFLite cannot take fails now, not after training
        if self.config.method in ("atmc", "alr") and (self.config.factorized or self.config.method == "alr"):
            check_exportable(self._factorized(model, self._ranks(model) or None))
        if self.config.method == "qat":
            from tfrobust.compression.qat import qat_model

            try:
                qat_model(model.get_weights(), self.config.bits)(model)
            except Exception as e:  # tfmot refuses a layer it cannot quantize
                raise ConfigError(f"--method=qat: tensorflow-model-optimization cannot quantize "
                                  f"{self.config.train.model}: {str(e).splitlines()[0][:200]}") from None

    def _ranks(self, model) -> Dict[str, int]:
        ranks = parse_ranks(self.config.ranks)
        names = [layer.name for layer in compressible_layers(model)]
        unknown = sorted(set(ranks) - set(names))
        if unknown:
            raise ConfigError(f"--ranks names {', '.join(map(repr, unknown))}; the model's layers: {', '.join(names)}")
        return ranks

    def _factorized(self, model, ranks):
        from tfrobust.layers.factorized import to_factorized

        try:
            return to_factorized(model, ranks)
        except ConfigError as e:
            raise ConfigError(f"--ranks: {e}") from None

    def _alr_model(self, start):
        from tfrobust.compression.factorize import global_ranks

        def transform(model):
            model.set_weights(start)
            ranks = self._ranks(model) or global_ranks(
                {layer.name: layer.effective_weights()["kernel"].numpy() for layer in compressible_layers(model)},
                self.config.keep)
            factorized = self._factorized(model, ranks)
            for p in prunable_variables(factorized):
                if p.name.endswith("/C"):  # pure low rank: no sparse term
                    p.assign(np.zeros(p.variable.shape, np.float32))
            return factorized
        return transform

    def _atmc_model(self, start, from_dense: bool):
        """The factorized model: from the dense weights (the SVD factors, C = 0), or a factorized stage's."""
        def transform(model):
            if from_dense:
                model.set_weights(start)
            factorized = self._factorized(model, self._ranks(model) or None)
            if not from_dense:
                factorized.set_weights(start)
            return factorized
        return transform

    def _masks_of(self):
        """The masks a fine-tuning stage starts under: global magnitude (ap) or tfmot's (nap)."""
        c = self.config
        if c.method == "ap":
            def global_magnitude(model):
                prunables = prunable_variables(model)
                masks = l0_masks([p.masked() for p in prunables], budget(self.dense_weights, c.keep))
                return {p.name: m.numpy() for p, m in zip(prunables, masks)}
            return global_magnitude

        def tfmot_masks(model):
            from tfrobust.pruning.interop import tfmot_prune

            names = [p.name for p in prunable_variables(model)]
            plain = tfmot_prune(model, {name: 1.0 - c.keep for name in names}, self.setup.splits.train_stream(0).take(1))
            return {layer.name: (layer.get_weights()[0] != 0).astype(np.float32)
                    for layer in plain.layers if layer.name in names}
        return tfmot_masks

    def _stage_parts(self, name: str, start) -> tuple:
        """(setup transform, hooks, quantization ADMM or None) of stage ``name`` started from ``start``."""
        c, method = self.config, self.config.method
        l0 = lambda: L0Projection(c.keep, dense_weights=self.dense_weights)  # noqa: E731
        if name == "dense":
            return None, [], None
        if name == "finetune" and method == "alr":
            return self._alr_model(start), [], None
        if name == "finetune":
            return None, [StartFrom(start, self._masks_of())], None
        if name == "l0":
            return None, [StartFrom(start), l0()], None
        if name == "qat":
            from tfrobust.compression.qat import qat_model

            return qat_model(start, c.bits), [], None
        transform = self._atmc_model(start, from_dense=name == "atmc32") if c.factorized else None
        hooks = [] if c.factorized else [StartFrom(start)]
        if name == "atmc32":
            return transform, hooks + [l0()], None
        admm = QuantizationAdmm(bits=c.bits, method=c.quant_method, rho=c.rho, growth=c.rho_growth, every=c.quant_every)
        return transform, hooks + [l0(), admm], admm

    def stage_values(self, name: str) -> Dict:
        """What places stage ``name`` in TensorBoard's HParams table: the settings its directory
        depends on (the dense stage is shared by every pipeline, the 32-bit stage by every
        quantization)."""
        if name == "dense":
            return {"stage": name}
        exclude = QUANTIZATION if name == "atmc32" else ()
        return {"stage": name, **study_values(self.config, "atmc", exclude=exclude)}

    def stage_dir(self, name: str) -> RunDir:
        config = self.config.stage(name)
        if name == "dense":
            return RunDir.for_config(self.base_dir, "dense", config, self.progress, chief=self.chief)
        if name == "atmc32":
            return RunDir(os.path.join(self.base_dir, "atmc32", run_id(self.config.without_quantization())), config)
        return RunDir(os.path.join(self.root.path, name), config)

    # ---- running --------------------------------------------------------------------------------
    def run_stages(self) -> None:
        """The dense stage, then the method's (``force`` redoes those after the dense one)."""
        weights = self._stage("dense", None)
        for name in self.config.stages:
            weights = self._stage(name, weights)

    def _stage(self, name: str, start) -> Optional[list]:
        """Runs stage ``name`` (or returns a finished one); returns its final weights (None for QAT,
        whose model does not reload and which no stage follows)."""
        transform, hooks, admm = self._stage_parts(name, start)
        setup = self.setup.with_config(self.config.stage(name)).with_transform(transform)
        if admm is not None:
            setup = admm.attach(setup)
        label = f"[{self.config.method} keep={self.config.keep:g} {name}]"
        x = self._export_inputs
        hooks = hooks + [_Export(self._bits(name), self.dense_weights, x, self.progress)]
        trainer = Trainer(setup, self.stage_dir(name), hooks=hooks, log_every=self.log_every,
                          hparams=self.stage_values(name),
                          progress=lambda text: self.progress(f"{label} {text}"), wait_for_lock=self.wait_for_lock)
        trainer.run(force=self.force and name not in ("dense", "atmc32"))
        model = trainer.model if hasattr(trainer, "model") else None
        path = trainer.run_dir.path
        if name == "qat":
            if not os.path.exists(os.path.join(path, "export.json")):
                raise TfrobustError(f"{path} has no export.json, and tfmot's model does not reload to make it; "
                                    "rerun with --force")
            return None
        if model is None:
            from tfrobust.saving import load_model

            model = load_model(os.path.join(path, "model.keras"))
        if self.chief:  # a stage finished elsewhere (runs.train with the same settings) has none yet
            export_record(model, path, self._bits(name), self.dense_weights, x, self.progress)
        return model.get_weights()

    def _bits(self, stage: str) -> int:
        return self.config.bits if stage in ("atmcb", "qat") else 32

    # ---- results --------------------------------------------------------------------------------
    def models(self) -> List[tuple]:
        """(label, stage) of each model the method reports."""
        c = self.config
        if c.method == "atmc":
            return [("ATMC-32bit", "atmc32")] + ([(f"ATMC-{c.bits}bit", "atmcb")] if c.bits < 32 else [])
        label = f"QAT-{c.bits}bit" if c.method == "qat" else LABELS[c.method]
        return [(label, c.stages[-1] if c.stages else "dense")]

    def results(self, seconds: float) -> Dict:
        """The record results.json holds (read from the stages' run directories)."""
        c = self.config
        dense = self.stage_dir("dense")
        entries = []
        for label, stage in self.models():
            run = self.stage_dir(stage)
            exported = read_export(run.path)
            entries.append({"label": label, "stage": stage, "path": os.path.relpath(run.path, self.base_dir),
                            "final": run.read_results(records.RUN)["final"], "size": exported["size"],
                            "export": exported["tflite"]})
        return {"kind": "atmc", "config": c.to_dict(), "id": self.root.id, "method": c.method, "keep": c.keep,
                "models": entries, "final": entries[-1]["final"], "dense": {"path": os.path.relpath(dense.path, self.base_dir),
                                             "export": read_export(dense.path)["tflite"]},
                "seconds": seconds}


class _Export(Hook):
    """After a stage's last step (before its results are written), sizes the model two ways and
    exports it to TFLite, in memory: :func:`~tfrobust.compression.size.export_record`."""

    def __init__(self, bits: int, dense_weights: int, check_inputs, progress):
        self.bits, self.dense_weights, self.x, self.progress = bits, dense_weights, check_inputs, progress

    def after_train(self, trainer):
        if trainer.setup.chief:
            export_record(trainer.model, trainer.run_dir.path, self.bits, self.dense_weights, self.x, self.progress)


def run_atmc(config: AtmcConfig, base_dir: str, data_dir: Optional[str] = None, force: bool = False,
             progress: Optional[Callable[[str], None]] = None, log_every: int = 100) -> Dict:
    """Runs (or resumes, or returns) the pipeline ``config`` under ``base_dir``."""
    return AtmcPipeline(config, base_dir, data_dir, progress, log_every).run(force=force)
