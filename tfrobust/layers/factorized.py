"""Factorized layers (ATMC, Gui et al. 2019): the kernel is ``B (A + I) + C``, each factor masked.

    K = from_matrix((b * b_mask) @ (a * a_mask + eye(r, n_out)) + c * c_mask)

(layout and identity: :mod:`tfrobust.compression.factorize`). ``b``, ``a`` and ``c`` are trainable
variables, each with a non-trainable 0/1 mask; as in masked layers, masked entries get zero gradient
and a constraint re-applies the mask after every optimizer step, so they stay exactly zero. A
pruned entry of ``a`` leaves the identity's entry in place, as in the reference.

``rank`` (0 or None: full rank, ``min(n_in, n_out)``) is fixed at build. A fresh layer draws a dense
kernel with its ``kernel_initializer`` and factorizes it (``factors``): at full rank it starts as
the Dense/Conv2D layer with that kernel. ``to_factorized`` converts the masked layers of a model.

Both layers are :class:`~tfrobust.layers.compressible.Compressible`, with three prunable variables
named ``<layer>/B``, ``<layer>/A`` and ``<layer>/C``, and a plain Dense/Conv2D equivalent. Masks
are weights, and those that are not all ones are also encoded in ``get_config``.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.compression.factorize import check_rank, factors, full_rank
from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import Compressible, Prunable
from tfrobust.layers.masked import MaskedConv2D, MaskedDense, decode_mask, dense_call, encode_mask
from tfrobust.layers.plain import _convert

FACTORS = ("B", "A", "C")  # the suffixes of the mask names, and the keys of get_config()["masks"]


class FactorMaskConstraint(keras.constraints.Constraint):
    """Multiplies a factor by its mask variable (after each optimizer step)."""

    def __init__(self, mask: tf.Variable):
        self.mask = mask

    def __call__(self, w):
        return w * tf.cast(self.mask, w.dtype)

    def get_config(self):  # never serialised: the layer re-creates it in build()
        return {}


class FactorizedMixin(Compressible):
    """Shared logic of :class:`FactorizedDense` and :class:`FactorizedConv2D`."""

    _plain_class = None

    def _init_factors(self, rank, masks):
        rank = 0 if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 0:
            raise ConfigError(f"rank {rank!r} of layer {self.name!r} must be a positive integer, "
                              "or 0 or None for full rank")
        if self.kernel_constraint is not None or self.kernel_regularizer is not None:
            raise ConfigError(f"layer {self.name!r} ({type(self).__name__}) takes no kernel_constraint "
                              "or kernel_regularizer: its kernel is a product of factors")
        unknown = set(masks or {}) - set(FACTORS)
        if unknown:
            raise ConfigError(f"masks of layer {self.name!r} has keys {sorted(unknown)}; known: "
                              f"{', '.join(FACTORS)}")
        self.factor_rank = int(rank)  # as given: 0 means full rank
        self._initial_masks = {k: decode_mask(v) for k, v in (masks or {}).items() if v is not None}

    def _build_factors(self, kernel_shape):
        """Creates b, a, c, their masks and the bias, from a factorized draw of kernel_initializer."""
        self.kernel_shape = tuple(int(d) for d in kernel_shape)
        self.kept_rank = check_rank(kernel_shape, self.factor_rank or full_rank(kernel_shape), self.name)
        dense = np.asarray(self.kernel_initializer(self.kernel_shape, dtype=self.dtype))
        values = factors(dense, self.kept_rank, self.name)
        for key, value in zip(("b", "a", "c"), values):
            mask = self.add_weight(name=f"{key}_mask", shape=value.shape, initializer="ones",
                                   trainable=False, dtype=self.dtype,
                                   aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            setattr(self, f"{key}_mask", mask)
            setattr(self, key, self.add_weight(
                name=key, shape=value.shape, initializer=lambda shape, dtype=None, v=value, **_: tf.constant(v, dtype),
                constraint=FactorMaskConstraint(mask), trainable=True, dtype=self.dtype))
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.kernel_shape[-1],), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                                        trainable=True, dtype=self.dtype)
        for p in self.prunable():
            mask = self._initial_masks.get(p.name.rsplit("/", 1)[1])
            if mask is not None:
                p.assign(mask)
        self._initial_masks = {}

    def effective_kernel(self) -> tf.Tensor:
        """``from_matrix(b * b_mask @ (a * a_mask + I) + c * c_mask)``, differentiable in b, a, c."""
        b, a, c = (p.masked() for p in self.prunable())
        eye = tf.eye(self.kept_rank, self.kernel_shape[-1], dtype=a.dtype)
        return tf.reshape(tf.matmul(b, a + eye) + c, self.kernel_shape)

    # -- the Compressible protocol --

    def effective_weights(self):
        """``{"kernel": effective_kernel(), "bias": bias}`` (no ``"bias"`` without one)."""
        out = {"kernel": self.effective_kernel()}
        if self.use_bias:
            out["bias"] = tf.convert_to_tensor(self.bias)
        return out

    def prunable(self):
        """``<layer>/B``, ``<layer>/A``, ``<layer>/C``: the factors and their masks."""
        return [Prunable(f"{self.name}/{key}", getattr(self, key.lower()), getattr(self, f"{key.lower()}_mask"))
                for key in FACTORS]

    def size_bits(self) -> int:
        """32 bits per stored entry: the nonzero entries of ``b * b_mask``, ``a * a_mask`` and
        ``c * c_mask`` (the paper's ``||B||_0 + ||A||_0 + ||C||_0``, so the all-zero C of a fresh
        factorization costs nothing), plus the bias. Not counted: the masks (positions of the
        entries), the identity (a constant), the layer's configuration."""
        bias = int(np.prod(self.bias.shape)) if self.use_bias else 0
        return 32 * (sum(int(np.count_nonzero(p.masked().numpy())) for p in self.prunable()) + bias)

    def plain_layer(self):
        config = self.get_config()
        config.pop("rank", None)
        config.pop("masks", None)
        return self._plain_class.from_config(config)

    def plain_weights(self):
        """``[effective kernel, bias]`` (no bias without one): a plain layer's ``get_weights``."""
        return [w.numpy() for w in self.effective_weights().values()]

    def set_plain_weights(self, weights):
        """Factorizes a plain layer's kernel at this layer's rank (``factors``: exact at full rank,
        the best rank-r approximation below), sets the bias; every mask becomes all ones."""
        expected = 2 if self.use_bias else 1
        if len(weights) != expected:
            raise ConfigError(f"layer {self.name!r} takes {expected} plain weights, not {len(weights)}")
        kernel = np.asarray(weights[0])
        if kernel.shape != self.kernel_shape:
            raise ConfigError(f"kernel of shape {kernel.shape} for layer {self.name!r}, whose kernel has "
                              f"shape {self.kernel_shape}")
        for p, value in zip(self.prunable(), factors(kernel, self.kept_rank, self.name)):
            p.assign(np.ones(p.mask.shape, np.float32))
            p.variable.assign(value.astype(p.variable.dtype.as_numpy_dtype))
        if self.use_bias:
            self.bias.assign(weights[1])

    def _factor_config(self, config: dict) -> dict:
        config["rank"] = self.factor_rank
        if self.built:
            masks = {p.name.rsplit("/", 1)[1]: p.mask.numpy() for p in self.prunable()}
        else:
            masks = dict(self._initial_masks)
        masks = {k: encode_mask(m) for k, m in masks.items() if not np.all(m == 1)}
        config["masks"] = masks or None
        return config


@keras.saving.register_keras_serializable(package="tfrobust")
class FactorizedDense(FactorizedMixin, keras.layers.Dense):
    """``Dense`` whose kernel ``(n_in, units)`` is ``B (A + I) + C`` at rank ``rank``. Accepts inputs
    of rank >= 2. ``masks``: ``{"B"|"A"|"C": mask}`` (``encode_mask`` form or arrays) to apply at build."""

    _plain_class = keras.layers.Dense

    def __init__(self, units, rank: Optional[int] = None, masks: Optional[Dict] = None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_factors(rank, masks)

    def build(self, input_shape):
        last_dim = tf.compat.dimension_value(tf.TensorShape(input_shape)[-1])
        if last_dim is None:
            raise ValueError(f"the last dimension of the inputs to {self.name!r} must be defined; "
                             f"got input shape {input_shape}")
        self.input_spec = keras.layers.InputSpec(min_ndim=2, axes={-1: last_dim})
        self._build_factors((last_dim, self.units))
        self.built = True

    def call(self, inputs):
        return dense_call(self, inputs, self.effective_kernel())

    def get_config(self):
        return self._factor_config(super().get_config())


@keras.saving.register_keras_serializable(package="tfrobust")
class FactorizedConv2D(FactorizedMixin, keras.layers.Conv2D):
    """``Conv2D`` whose kernel is ``B (A + I) + C``, its matrix ``(kh * kw * c_in, filters)``, at
    rank ``rank``. ``groups`` must be 1. ``masks`` as in :class:`FactorizedDense`."""

    _plain_class = keras.layers.Conv2D

    def __init__(self, filters, kernel_size, rank: Optional[int] = None, masks: Optional[Dict] = None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        if self.groups != 1:
            raise ConfigError(f"groups {self.groups} of layer {self.name!r}: factorized convolutions "
                              "take groups=1 only")
        self._init_factors(rank, masks)

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = self._get_input_channel(input_shape)
        self.compute_output_shape(input_shape)  # validates the spatial sizes
        self.input_spec = keras.layers.InputSpec(min_ndim=4, axes={self._get_channel_axis(): channels})
        self._build_factors(self.kernel_size + (channels, self.filters))
        self.built = True

    def call(self, inputs):
        outputs = self.convolution_op(inputs, tf.cast(self.effective_kernel(), self.compute_dtype))
        if self.use_bias:
            outputs = tf.nn.bias_add(outputs, tf.cast(self.bias, self.compute_dtype),
                                     data_format=self._tf_data_format)
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def get_config(self):
        return self._factor_config(super().get_config())


_TO_FACTORIZED = {MaskedDense: FactorizedDense, MaskedConv2D: FactorizedConv2D}


def to_factorized(model: keras.Model, ranks: Optional[Dict[str, int]] = None) -> keras.Model:
    """A copy of ``model`` in which every MaskedDense / MaskedConv2D (exactly those types, among
    ``model.layers``) is a factorized layer at ``ranks[layer.name]`` (missing, 0 or None: full
    rank), factorized from its ``kernel * mask`` (exact at full rank, the best rank-r approximation
    below), bias copied; every other layer is copied as is. For ALR, take ``ranks`` from
    ``global_ranks`` over the masked kernels."""
    ranks = dict(ranks or {})
    known = [layer.name for layer in model.layers if type(layer) in _TO_FACTORIZED]
    if not known:
        raise ConfigError(f"model {model.name!r} has no MaskedDense or MaskedConv2D layer to factorize")
    unknown = sorted(set(ranks) - set(known))
    if unknown:
        raise ConfigError(f"no masked layer named {', '.join(map(repr, unknown))}; known: {', '.join(known)}")

    def clone(layer):
        target = _TO_FACTORIZED.get(type(layer))
        if target is None:
            return None
        config = layer.get_config()
        config.pop("mask", None)
        return target.from_config(dict(config, rank=ranks.get(layer.name)))

    return _convert(model, clone, lambda old, new: new.set_plain_weights(old.plain_weights()))
