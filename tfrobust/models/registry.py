"""The model registry: short name -> factory ``(input_shape, num_classes, seed, **options)``.

Every model outputs logits and is built from masked layers, so that any of them can be pruned.
"""
from __future__ import annotations

from typing import Sequence

import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.registry import Registry

MODELS: Registry = Registry("model")


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, seed: int = 0, **options
) -> keras.Model:
    """Builds the registered model ``name`` for inputs of ``input_shape`` (H, W, C)."""
    if len(tuple(input_shape)) != 3 or min(input_shape) < 1:
        raise ConfigError(f"input_shape must be (height, width, channels); got {tuple(input_shape)}")
    if num_classes < 2:
        raise ConfigError(f"num_classes must be at least 2; got {num_classes}")
    try:
        return MODELS.build(name, input_shape=tuple(input_shape), num_classes=num_classes, seed=seed, **options)
    except ConfigError:
        raise
    except (ValueError, TypeError, ZeroDivisionError) as e:  # Keras on a shape or size it cannot take
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"model {name!r} cannot be built for inputs of shape {tuple(input_shape)} with "
                          f"{options or 'its default options'}: {first}") from None


def initializer(seed: int, index: int, kind: str = "glorot_uniform"):
    """A seeded initializer, distinct per layer ``index``: same seed -> same weights."""
    cls = {"glorot_uniform": keras.initializers.GlorotUniform, "he_normal": keras.initializers.HeNormal}
    return cls[kind](seed=seed * 1000 + index)
