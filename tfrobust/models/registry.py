"""The model registry: short name -> factory ``(input_shape, num_classes, seed, **options)``.

Every model outputs logits and is built from masked layers, so that any of them can be pruned.
Every model also takes ``rotation_head`` (default false): ``true`` wraps it with a 4-way
self-supervised rotation head (:mod:`tfrobust.models.rotation`, for the ``rotation`` objective).
"""
from __future__ import annotations

import functools
import inspect
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.data.arrays import check_int
from tfrobust.errors import ConfigError
from tfrobust.registry import Registry


class ModelRegistry(Registry):
    """The model registry: every factory registered here also takes ``rotation_head`` (a bool,
    default false), which wraps the model it builds with a 4-way rotation head
    (:mod:`tfrobust.models.rotation`)."""

    def register(self, name: str):
        def decorator(factory):
            Registry.register(self, name)(_with_rotation_head_option(factory, name))
            return factory

        return decorator


def _with_rotation_head_option(factory, name: str):
    """``factory`` with the ``rotation_head`` option added to its signature (which the spec
    parser and :meth:`Registry.build` read)."""
    signature = inspect.signature(factory)
    if "rotation_head" in signature.parameters:
        return factory

    @functools.wraps(factory)
    def build(*args, rotation_head=False, **options):
        check_option(name, "rotation_head", rotation_head, isinstance(rotation_head, bool), "true or false")
        model = factory(*args, **options)
        if not rotation_head:
            return model
        from tfrobust.models.rotation import with_rotation_head

        return with_rotation_head(model, seed=options.get("seed", 0))

    params = list(signature.parameters.values())
    at = next((i for i, p in enumerate(params) if p.kind is p.VAR_KEYWORD), len(params))
    option = inspect.Parameter("rotation_head", inspect.Parameter.KEYWORD_ONLY, default=False)
    build.__signature__ = signature.replace(parameters=params[:at] + [option] + params[at:])
    return build


MODELS: Registry = ModelRegistry("model")


def build_model(
    name: str, input_shape: Sequence[int], num_classes: int, seed: int = 0, **options
) -> keras.Model:
    """Builds the registered model ``name`` for inputs of ``input_shape`` (H, W, C).

    ``num_classes`` >= 2; ``seed`` >= 0 (the same seed gives the same weights). A bad argument or
    option, or a model that cannot take the input shape, raises ConfigError naming it.
    """
    if not isinstance(name, str):
        raise ConfigError(f"model name {name!r} is not allowed; allowed: one of {', '.join(MODELS.names())}")
    input_shape = check_input_shape(input_shape)
    num_classes = check_int("num_classes", num_classes, 2)
    seed = check_int("seed", seed, 0)
    try:
        return MODELS.build(name, input_shape=input_shape, num_classes=num_classes, seed=seed, **options)
    except ConfigError:
        raise
    except (ValueError, TypeError, ZeroDivisionError) as e:  # Keras on a shape or size it cannot take
        raise ConfigError(f"model {name!r} cannot be built for inputs of shape {input_shape} with "
                          f"{options or 'its default options'}: {_first_line(e)}") from None
    except (MemoryError, tf.errors.ResourceExhaustedError) as e:
        raise ConfigError(f"model {name!r} with {options or 'its default options'} does not fit in "
                          f"memory ({type(e).__name__}); allowed: smaller sizes") from None


def check_input_shape(input_shape) -> tuple:
    """``input_shape`` as ``(height, width, channels)`` of ints >= 1; else ConfigError."""
    dims = None
    if not isinstance(input_shape, (str, bytes)):
        try:
            dims = tuple(input_shape)
        except TypeError:  # not iterable
            pass
    if dims is None or len(dims) != 3 or not all(positive_int(d) for d in dims):
        raise ConfigError(f"input_shape={input_shape!r} is not allowed; allowed: (height, width, channels), "
                          "three integers >= 1")
    return tuple(int(d) for d in dims)


def positive_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1


def check_option(model: str, option: str, value, ok: bool, allowed: str) -> None:
    """Raises ConfigError ``model 'm': option=value is not allowed; option must be allowed``."""
    if not ok:
        raise ConfigError(f"model {model!r}: {option}={value!r} is not allowed; {option} must be {allowed}")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def initializer(seed: int, index: int, kind: str = "glorot_uniform"):
    """A seeded initializer, distinct per layer ``index``: same seed -> same weights.

    The layer's seed is ``seed * 1000 + index``; where that would not fit in int64 (TensorFlow's
    seed type), a hash of ``(seed, index)`` below 2**63 takes its place.
    """
    layer_seed = seed * 1000 + index
    if layer_seed >= 2 ** 63:
        layer_seed = int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> np.uint64(1))
    cls = {"glorot_uniform": keras.initializers.GlorotUniform, "he_normal": keras.initializers.HeNormal}
    return cls[kind](seed=layer_seed)
