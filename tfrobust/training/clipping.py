"""Weight clipping (``--weight_clip``), as Stutz et al. train their ``0005p``... models.

Every weight the optimizer trains outside normalisation layers (kernels, biases, a factorized
layer's factors) is clipped to ``[-bound, bound]`` before the first step and after every update,
inside the compiled step. Batch-norm scales and offsets, masks, codebooks and statistics are left
alone (Stutz clips every trainable parameter, but his clipped models use a reparameterised batch
norm that tolerates it; a plain batch norm's scale clipped to 0.005 would silence its layer).
"""
from __future__ import annotations

from typing import List

import tensorflow as tf
import tf_keras as keras

_NORMALIZATION = tuple(cls for cls in (getattr(keras.layers, name, None) for name in (
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "SyncBatchNormalization")) if isinstance(cls, type))


def clipped_variables(model: keras.Model) -> List[tf.Variable]:
    """The model's trainable variables that are not a normalisation layer's."""
    skip = {id(v) for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, _NORMALIZATION) for v in layer.weights}
    return [v for v in model.trainable_variables if id(v) not in skip]


def clip(variables, bound: float) -> None:
    """Clips each variable to ``[-bound, bound]`` in place (graph-friendly; in a distribution
    strategy, call it in cross-replica context)."""
    for v in variables:
        v.assign(tf.clip_by_value(v, -bound, bound))
