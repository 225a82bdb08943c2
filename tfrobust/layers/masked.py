"""Masked layers: a kernel times a fixed binary mask, so that any model built from them can be pruned.

The mask is a non-trainable variable of the kernel's shape, multiplied into the kernel in ``call``.
Two things keep pruned weights at exactly zero whatever the optimizer does:

- the gradient of ``kernel * mask`` with respect to a masked entry of ``kernel`` is zero;
- the kernel carries a constraint that multiplies it by the mask after every optimizer update, so
  momentum or Adam moments accumulated before pruning cannot move a masked entry away from zero.

The mask is saved wherever the layer is saved: it is a weight (checkpoints, ``get_weights``,
``.keras`` files), and a mask that is not all ones is also encoded, bit-packed, in ``get_config``.

Both layers are :class:`~tfrobust.layers.compressible.Compressible`: one prunable variable (the
kernel, its mask named after the layer), effective weights ``kernel * mask`` and the bias, and a
plain ``Dense``/``Conv2D`` equivalent.
"""
from __future__ import annotations

import base64

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.errors import ConfigError
from tfrobust.layers.compressible import Compressible, Prunable


def encode_mask(mask: np.ndarray) -> dict:
    """A JSON-friendly, bit-packed form of a binary mask (8 entries per byte, base64)."""
    bits = np.packbits(np.asarray(mask).reshape(-1) > 0)
    return {"shape": list(np.shape(mask)), "bits": base64.b64encode(bits.tobytes()).decode("ascii")}


def decode_mask(encoded) -> np.ndarray:
    """Inverse of :func:`encode_mask`; also accepts a plain array or nested list."""
    if isinstance(encoded, dict):
        shape = tuple(encoded["shape"])
        size = int(np.prod(shape))
        bits = np.frombuffer(base64.b64decode(encoded["bits"]), dtype=np.uint8)
        return np.unpackbits(bits)[:size].reshape(shape).astype(np.float32)
    return np.asarray(encoded, dtype=np.float32)


def dense_call(layer: keras.layers.Dense, inputs, kernel):
    """What ``Dense.call`` computes, with ``kernel`` in place of the layer's own (a masked kernel,
    a product of factors): inputs of rank >= 2, the layer's bias and activation, its compute dtype."""
    inputs = tf.cast(inputs, layer.compute_dtype)
    kernel = tf.cast(kernel, layer.compute_dtype)
    if inputs.shape.rank == 2:
        outputs = tf.matmul(inputs, kernel)
    else:
        outputs = tf.tensordot(inputs, kernel, [[inputs.shape.rank - 1], [0]])
    if layer.use_bias:
        outputs = tf.nn.bias_add(outputs, tf.cast(layer.bias, layer.compute_dtype))
    if layer.activation is not None:
        outputs = layer.activation(outputs)
    return outputs


class MaskConstraint(keras.constraints.Constraint):
    """Projects a kernel onto its mask after each optimizer step (then applies ``inner``, if any)."""

    def __init__(self, layer: "MaskedMixin", inner=None):
        self._layer = layer
        self.inner = inner

    def __call__(self, w):
        w = w * tf.cast(self._layer.mask, w.dtype)
        return self.inner(w) if self.inner is not None else w

    def get_config(self):  # never serialised: the layer re-creates it in build()
        return {}


class MaskedMixin(Compressible):
    """Shared mask logic of :class:`MaskedDense` and :class:`MaskedConv2D`."""

    _plain_class = None  # the plain Keras layer class this one is equivalent to

    def _init_mask(self, mask):
        self._initial_mask = None if mask is None else decode_mask(mask)
        self._user_kernel_constraint = self.kernel_constraint
        self.kernel_constraint = MaskConstraint(self, self._user_kernel_constraint)

    def _build_mask(self):
        shape = tuple(self.kernel.shape)
        self.mask = self.add_weight(
            name="mask",
            shape=shape,
            initializer="ones",
            trainable=False,
            dtype=self.dtype,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )
        if self._initial_mask is not None:
            self.set_mask(self._initial_mask)
            self._initial_mask = None

    @property
    def masked_kernel(self):
        return self.kernel * self.mask

    def set_mask(self, mask) -> None:
        """Sets the mask (0/1 entries, the kernel's shape) and zeroes the kernel where it is 0."""
        self.prunable()[0].assign(mask)

    # -- the Compressible protocol --

    def effective_weights(self):
        """``{"kernel": kernel * mask, "bias": bias}`` (no ``"bias"`` without one)."""
        out = {"kernel": self.masked_kernel}
        if self.use_bias:
            out["bias"] = tf.convert_to_tensor(self.bias)
        return out

    def prunable(self):
        """One entry: the kernel and its mask, named after the layer."""
        return [Prunable(self.name, self.kernel, self.mask)]

    def size_bits(self) -> int:
        """32 bits per remaining kernel entry (mask 1) and per bias entry. Not counted: the mask
        itself (the positions of the remaining entries), the layer's configuration."""
        bias = int(np.prod(self.bias.shape)) if self.use_bias else 0
        return 32 * (int(np.count_nonzero(self.mask.numpy())) + bias)

    def plain_layer(self):
        config = self.get_config()
        config.pop("mask", None)
        return self._plain_class.from_config(config)

    def plain_weights(self):
        """``[kernel * mask, bias]`` (no bias without one): a plain layer's ``get_weights``."""
        return [w.numpy() for w in self.effective_weights().values()]

    def set_plain_weights(self, weights):
        """Sets kernel (and bias) from a plain layer's weights; the mask marks the nonzero entries."""
        expected = 2 if self.use_bias else 1
        if len(weights) != expected:
            raise ConfigError(f"layer {self.name!r} takes {expected} plain weights, not {len(weights)}")
        self.kernel.assign(weights[0])
        if self.use_bias:
            self.bias.assign(weights[1])
        self.set_mask((np.asarray(weights[0]) != 0).astype(np.float32))

    def _mask_config(self, config: dict) -> dict:
        config["kernel_constraint"] = keras.constraints.serialize(self._user_kernel_constraint)
        mask = None
        if self.built:
            values = self.mask.numpy()
            if not np.all(values == 1):
                mask = encode_mask(values)
        elif self._initial_mask is not None:
            mask = encode_mask(self._initial_mask)
        config["mask"] = mask
        return config


@keras.saving.register_keras_serializable(package="tfrobust")
class MaskedDense(MaskedMixin, keras.layers.Dense):
    """``Dense`` whose kernel is multiplied by a binary mask. Accepts inputs of rank >= 2."""

    _plain_class = keras.layers.Dense

    def __init__(self, units, mask=None, **kwargs):
        super().__init__(units, **kwargs)
        self._init_mask(mask)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_mask()

    def call(self, inputs):
        return dense_call(self, inputs, self.masked_kernel)

    def get_config(self):
        return self._mask_config(super().get_config())


@keras.saving.register_keras_serializable(package="tfrobust")
class MaskedConv2D(MaskedMixin, keras.layers.Conv2D):
    """``Conv2D`` whose kernel is multiplied by a binary mask."""

    _plain_class = keras.layers.Conv2D

    def __init__(self, filters, kernel_size, mask=None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self._init_mask(mask)

    def build(self, input_shape):
        super().build(input_shape)
        self._build_mask()

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * tf.cast(self.mask, kernel.dtype))

    def get_config(self):
        return self._mask_config(super().get_config())
