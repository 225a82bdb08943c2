"""Regularisers: terms the training loop adds to the objective's loss, each ``term(model) -> scalar``.

The loop sums them, divided by the number of replicas (each replica adds its share, so the
summed update is the same on any number of devices). ADMM's penalty ρ/2‖W − Z + U‖² is one more
such term, with its Z, U and ρ saved by a hook.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class L1:
    """``weight`` times the L1 norm of the prunable weights (masked entries count 0)."""

    weight: float

    def __call__(self, model) -> tf.Tensor:
        from tfrobust.layers import l1_penalty

        return self.weight * l1_penalty(model)


@dataclasses.dataclass(frozen=True)
class LayerLosses:
    """The losses layers add themselves (``model.losses``: kernel regularisers, activity losses)."""

    def __call__(self, model) -> tf.Tensor:
        return tf.add_n(model.losses) if model.losses else tf.constant(0.0)


def from_config(config) -> list:
    """The regularisers a TrainConfig asks for."""
    terms = [LayerLosses()]
    if config.l1_reg:
        terms.append(L1(config.l1_reg))
    return terms
