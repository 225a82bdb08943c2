"""Quantized layers: masked layers whose forward pass uses a quantized kernel (ATMC, Gui et al.).

``QuantizedDense`` and ``QuantizedConv2D`` are :class:`~tfrobust.layers.masked.MaskedDense` and
:class:`~tfrobust.layers.masked.MaskedConv2D` (same mask, mask constraint, saving) with two more
arguments, ``bits`` and ``method`` (see :mod:`tfrobust.compression.quantize`), and one more
non-trainable weight, ``codebook``:

- ``method="kmeans"``: the ``2**bits`` values a kernel entry may take, 0 among them (padded with
  zeros when k-means finds fewer). The forward pass snaps ``kernel * mask`` to the nearest value.
  ``bits`` must be in [1, 16] (a codebook of ``2**bits`` entries is stored);
- ``method="uniform"``: the per-output-channel scales (shape ``(units,)`` / ``(filters,)``); the
  forward pass uses ``clip(round(k / scale), -L, L) * scale`` with ``L = 2**(bits-1) - 1``.
  ``bits`` must be in [2, 32].

Zero always maps to zero, so masked entries stay exactly 0. The gradient is straight-through: the
forward pass uses ``snap(k) + (k - stop_gradient(k))`` with ``k = kernel * mask``, whose value is
exactly ``snap(k)`` and whose gradient is that of ``kernel * mask``. The float kernel keeps
training; the codebook does not follow it by itself: :meth:`~QuantizedMixin.fit_codebook` refits
it to the current ``kernel * mask`` (at build time, in :func:`to_quantized`, in
``set_plain_weights``; after ``set_weights`` or training steps, call it yourself). ATMC's pipeline
does not train through these layers: it quantizes its weights by ADMM
(:mod:`tfrobust.compression.quant_admm`); these layers hold a b-bit model whose codebook is part of
the model (training with a straight-through gradient, storage, size in bits). The codebook is a
weight, so it is saved and restored with the model.

    qmodel = to_quantized(model, bits=8)              # masked layers -> quantized, codebooks fitted
    qmodel.get_layer("fc").fit_codebook()             # after training steps
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.compression.quantize import check_method, kmeans_fixed_zero, uniform_per_channel
from tfrobust.errors import ConfigError
from tfrobust.layers.masked import MaskedConv2D, MaskedDense
from tfrobust.layers.plain import _convert

MAX_KMEANS_BITS = 16


def check_layer_quantizer(bits, method) -> None:
    """Fails unless ``(bits, method)`` suits a quantized layer (kmeans: bits <= 16)."""
    check_method(bits, method)
    if method == "kmeans" and bits > MAX_KMEANS_BITS:
        raise ConfigError(f"bits={bits!r} is not allowed for a k-means quantized layer (its codebook has 2**bits "
                          f"entries); it must be an integer in [1, {MAX_KMEANS_BITS}]")


class QuantizedMixin:
    """Shared quantization logic of :class:`QuantizedDense` and :class:`QuantizedConv2D`; goes
    before the masked layer class in the bases."""

    def _init_quantizer(self, bits, method):
        self.bits = int(bits)
        self.method = method

    def build(self, input_shape):
        super().build(input_shape)
        shape = (2 ** self.bits,) if self.method == "kmeans" else (int(self.kernel.shape[-1]),)
        self.codebook = self.add_weight(
            name="codebook" if self.method == "kmeans" else "scales",
            shape=shape,
            initializer="zeros",
            trainable=False,
            dtype=self.dtype,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        self.fit_codebook()

    def fit_codebook(self) -> None:
        """Refits the codebook (kmeans) or the scales (uniform) to the current ``kernel * mask``."""
        kernel = (self.kernel * tf.cast(self.mask, self.kernel.dtype)).numpy()
        if self.method == "kmeans":
            codebook, _ = kmeans_fixed_zero(kernel, self.bits)
            codebook = np.sort(np.append(codebook, np.zeros(2 ** self.bits - codebook.size, codebook.dtype)))
        else:
            codebook, _ = uniform_per_channel(kernel, self.bits, axis=-1)
        self.codebook.assign(codebook.astype(self.codebook.dtype.as_numpy_dtype))

    def snap(self, kernel: tf.Tensor) -> tf.Tensor:
        """``kernel`` quantized with the current codebook (no gradient); 0 stays 0."""
        codebook = tf.cast(self.codebook, kernel.dtype)
        if self.method == "kmeans":
            centres = tf.sort(codebook)
            midpoints = 0.5 * (centres[1:] + centres[:-1])
            index = tf.searchsorted(midpoints, tf.reshape(kernel, [-1]), side="left")
            return tf.reshape(tf.gather(centres, index), tf.shape(kernel))
        levels = tf.constant(2 ** (self.bits - 1) - 1, kernel.dtype)
        safe = tf.where(codebook > 0, codebook, tf.ones_like(codebook))
        return tf.clip_by_value(tf.round(kernel / safe), -levels, levels) * codebook

    def _straight_through(self, kernel: tf.Tensor) -> tf.Tensor:
        """Value ``snap(kernel)`` exactly, gradient that of ``kernel``."""
        return tf.stop_gradient(self.snap(kernel)) + (kernel - tf.stop_gradient(kernel))

    @property
    def masked_kernel(self):
        """The quantized ``kernel * mask`` with a straight-through gradient (see the module docstring)."""
        return self._straight_through(self.kernel * tf.cast(self.mask, self.kernel.dtype))

    # -- the Compressible protocol (effective_weights, prunable and plain_weights: the masked layer's,
    #    which read masked_kernel) --

    def size_bits(self) -> int:
        """``bits`` per remaining kernel entry (mask 1; its index into the codebook, or its integer
        level), 32 per bias entry and 32 per codebook entry (kmeans: ``2**bits``) or scale
        (uniform: one per output channel). Not counted: the mask, the layer's configuration."""
        bias = int(np.prod(self.bias.shape)) if self.use_bias else 0
        remaining = int(np.count_nonzero(self.mask.numpy()))
        return self.bits * remaining + 32 * (bias + int(np.prod(self.codebook.shape)))

    def plain_layer(self):
        """The plain ``Dense``/``Conv2D`` (its weights: :meth:`plain_weights`, the quantized kernel)."""
        config = self.get_config()
        for key in ("mask", "bits", "method"):
            config.pop(key, None)
        return self._plain_class.from_config(config)

    def set_plain_weights(self, weights):
        """Sets kernel, bias and mask (the nonzero kernel entries) from a plain layer's weights, then
        fits the codebook."""
        super().set_plain_weights(weights)
        self.fit_codebook()

    def get_config(self):
        config = super().get_config()
        config.update(bits=self.bits, method=self.method)
        return config


@keras.saving.register_keras_serializable(package="tfrobust")
class QuantizedDense(QuantizedMixin, MaskedDense):
    """``MaskedDense`` whose masked kernel is quantized to ``bits`` bits by ``method``."""

    def __init__(self, units, bits=8, method="kmeans", mask=None, **kwargs):
        check_layer_quantizer(bits, method)
        super().__init__(units, mask=mask, **kwargs)
        self._init_quantizer(bits, method)


@keras.saving.register_keras_serializable(package="tfrobust")
class QuantizedConv2D(QuantizedMixin, MaskedConv2D):
    """``MaskedConv2D`` whose masked kernel is quantized to ``bits`` bits by ``method``."""

    def __init__(self, filters, kernel_size, bits=8, method="kmeans", mask=None, **kwargs):
        check_layer_quantizer(bits, method)
        super().__init__(filters, kernel_size, mask=mask, **kwargs)
        self._init_quantizer(bits, method)

    def convolution_op(self, inputs, kernel):
        masked = self._straight_through(kernel * tf.cast(self.mask, kernel.dtype))
        return keras.layers.Conv2D.convolution_op(self, inputs, masked)  # not MaskedConv2D's: masked already


_TO_QUANTIZED = {MaskedDense: QuantizedDense, MaskedConv2D: QuantizedConv2D}


def to_quantized(model: keras.Model, bits: int, method: str = "kmeans") -> keras.Model:
    """A copy of ``model`` in which every ``MaskedDense``/``MaskedConv2D`` (exactly those types) is
    its quantized counterpart with the same configuration, kernel, bias and mask, and a codebook
    fitted to ``kernel * mask``; other layers are copied. Fails if there is no such layer."""
    check_layer_quantizer(bits, method)
    if not any(type(layer) in _TO_QUANTIZED for layer in model.layers):
        raise ConfigError(f"model {model.name!r} has no MaskedDense or MaskedConv2D layer to quantize")

    def clone(layer):
        target = _TO_QUANTIZED.get(type(layer))
        return None if target is None else target.from_config({**layer.get_config(), "bits": bits, "method": method})

    def copy(old, new):
        new.kernel.assign(old.kernel)
        if old.use_bias:
            new.bias.assign(old.bias)
        new.set_mask(old.mask.numpy())
        new.fit_codebook()

    return _convert(model, clone, copy)
