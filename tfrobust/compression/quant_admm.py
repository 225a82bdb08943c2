"""ATMC's quantization constraint under ADMM: at most ``2**bits`` distinct values per variable.

The set ``{W : |values(W)| <= 2**bits}`` is not convex, and its projection is a k-means problem,
so ATMC (Gui et al., seed 002) keeps it through ADMM (:class:`~tfrobust.pruning.admm.Admm` with
another projection): the loss gains ``rho/2 ||W - Z + U||^2``, and every ``every`` iterations

    Z = quantize((W + U) on the support of W);   U = U + W - Z

where ``quantize`` is k-means with a fixed zero centre (the reference's
``kmeans_nnz_fixed_0_center``) or uniform per channel (:mod:`tfrobust.compression.quantize`).
The support restriction keeps Z as sparse as W, so the quantization and the l0 projection
(:mod:`tfrobust.compression.l0`) pull the same way. The reference keeps rho at 0.1 (``growth=1``)
and updates every 5 batches. After the last step the weights themselves are quantized (``W =
quantize(W)``, the masks on what stays nonzero), so the final evaluation and the saved model
are the b-bit network.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List

import numpy as np

from tfrobust.compression.quantize import check_bits, check_method, quantize
from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import prunable_variables
from tfrobust.pruning.admm import Admm


@dataclasses.dataclass(eq=False)
class QuantizationAdmm(Admm):
    """``bits`` per variable, by ``method`` (``kmeans`` or ``uniform``), on every prunable variable;
    ``rho``, ``growth`` and ``every`` as in :class:`~tfrobust.pruning.admm.Admm`."""

    ratios: Dict[str, float] = dataclasses.field(default_factory=dict)  # unused: no sparsity target
    bits: int = 8
    method: str = "kmeans"

    def __post_init__(self):
        super().__post_init__()
        check_bits(self.bits)
        check_method(self.bits, self.method)

    def names(self, model) -> List[str]:
        names = [p.name for p in prunable_variables(model)]
        if not names:
            raise ConfigError(f"model {model.name!r} has no prunable weights to quantize")
        return names

    def state(self, trainer):
        out = super().state(trainer)
        self._weights = self._variables(trainer.model)  # W, whose support Z keeps
        return out

    def target(self, name: str, weights: np.ndarray) -> np.ndarray:
        support = self._weights[name].numpy() != 0
        return quantize(weights * support, self.bits, self.method).astype(np.float32)

    def after_step(self, trainer, step):
        super().after_step(trainer, step)
        if step == trainer.setup.config.train_iters:
            self.quantize_weights(trainer.model)

    def quantize_weights(self, model) -> None:
        """``W = quantize(W)`` for every variable: the b-bit network; the masks drop the entries
        the codebook's zero took, so weight counts and sizes agree."""
        for p in prunable_variables(model):
            if p.name in self._names:
                p.variable.assign(quantize(p.variable.numpy(), self.bits, self.method).astype(np.float32))
                p.assign(p.mask.numpy() * (p.variable.numpy() != 0))
