"""The learners a GTN teaches: small networks written as pure functions of their weights.

    arch = make_learner("conv:width=32,layers=2")
    params, means = arch.init(seed, input_shape=(28, 28, 1), num_classes=10)
    logits, batch_means = arch.apply(params, means, x, training=True)

Every hidden layer is a weight-normalised convolution or dense layer without bias, then mean-only
batch norm (the batch's channel mean is subtracted; a learned bias is added), then
LeakyReLU(0.1); the output layer is a weight-normalised dense layer with a bias. In training mode
the batch's own means are used and returned; in inference mode the running ``means`` are used.
Running means start at the first batch's means and then move as ``0.9 m + 0.1 batch mean``
(:func:`update_means`). Convolutions are 3x3 with stride 2 (no pooling: the GTN report found that
pooling learners do not learn from a GTN).

Architectures (``LEARNERS``): ``linear`` (one dense layer), ``mlp`` (``layers`` hidden dense
layers of ``width`` units), ``conv`` (``layers`` convolutions of ``width * 2**i`` channels, then
a dense output layer). ``random_width=true`` draws each new learner's width from
:meth:`Learner.widths` (``width/2``, ``3 width/4``, ``width``), so a GTN meets several sizes.
"""
from __future__ import annotations

import dataclasses
import math
from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.config import COUNT_MAX, SIZE_MAX
from tfrobust.errors import ConfigError
from tfrobust.gtn import functional as F
from tfrobust.registry import Registry
from tfrobust.spec import format_spec, parse_spec

LEARNERS: Registry = Registry("learner")
MEAN_DECAY = 0.9  # running means: 0.9 m + 0.1 batch mean


@dataclasses.dataclass(frozen=True)
class Learner:
    """A learner architecture: its settings, and init/apply as pure functions."""

    name = "learner"
    width: int = 32
    layers: int = 1
    random_width: bool = False

    def __post_init__(self):
        for key, maximum in (("width", SIZE_MAX), ("layers", COUNT_MAX)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= maximum:
                raise ConfigError(f"learner {self.name!r}: {key}={value!r} must be an integer >= 1 "
                                  f"(at most {maximum})")

    @property
    def spec(self) -> str:
        return format_spec(self.name, {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                                       if getattr(self, f.name) != f.default})

    def widths(self) -> List[int]:
        """The widths a ``random_width`` learner is drawn from."""
        return sorted({max(1, self.width // 2), max(1, 3 * self.width // 4), self.width})

    def sample(self, seed: Sequence[int]) -> "Learner":
        """This architecture, with its width drawn from ``widths()`` by ``seed`` if ``random_width``."""
        if not self.random_width:
            return self
        choices = self.widths()
        width = choices[int(np.random.default_rng(list(seed)).integers(len(choices)))]
        return dataclasses.replace(self, width=width, random_width=False)

    def init(self, seed, input_shape: Tuple[int, ...], num_classes: int):
        """``(params, means)``: a dict of layer weights and a list of running means (zeros until the
        first training step), drawn from the stateless ``seed`` (a length-2 int tensor or list)."""
        count = max(16, len(self.hidden_units()) + 1)  # 16: what learners of up to 15 hidden layers always drew
        seeds = iter(tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), count)))
        params, channels = {}, list(input_shape)
        for i, units in enumerate(self.hidden_units()):
            params[f"hidden_{i}"] = self._init_hidden(channels, units, next(seeds))
            channels = self._next_shape(channels, units)
        params["out"] = F.init_dense(int(np.prod(channels)), num_classes, next(seeds))
        means = [tf.zeros([units]) for units in self.hidden_units()]
        return params, means

    def apply(self, params, means, x: tf.Tensor, training: bool):
        """``(logits, batch means)``: batch means of each hidden layer in training mode, else ``means``."""
        used = []
        h = x
        for i in range(len(self.hidden_units())):
            w = params[f"hidden_{i}"]
            h = self._hidden(w, h)
            m = F.batch_mean(h) if training else means[i]
            used.append(m)
            h = F.leaky_relu(h - m + w["b"])
        h = tf.reshape(h, [tf.shape(h)[0], -1])
        return F.dense(params["out"], h), used

    def hidden_units(self) -> List[int]:
        return []

    def footprint(self, input_shape: Sequence[int], num_classes: int) -> Tuple[int, int]:
        """``(weights, activations of one example)`` in floats, at the widest of :meth:`widths`."""
        return math.prod(input_shape) * num_classes, 0

    def _init_hidden(self, shape, units, seed):
        raise ConfigError(f"learner {self.name!r} has no hidden layers")

    def _next_shape(self, shape, units):
        return shape

    def _hidden(self, w, h):
        return h


def update_means(means: List[tf.Tensor], batch_means: List[tf.Tensor], first) -> List[tf.Tensor]:
    """Running means after one training step: the batch means at the ``first`` step, else
    ``0.9 m + 0.1 batch mean``. ``first`` may be a boolean tensor."""
    return [tf.where(first, b, MEAN_DECAY * m + (1.0 - MEAN_DECAY) * b) for m, b in zip(means, batch_means)]


@LEARNERS.register("linear")
@dataclasses.dataclass(frozen=True)
class Linear(Learner):
    """Softmax regression on the pixels: one weight-normalised dense layer."""

    name = "linear"

    def __post_init__(self):
        super().__post_init__()
        if (self.width, self.layers, self.random_width) != (32, 1, False):
            raise ConfigError("learner 'linear' has no hidden layers: it takes no width, layers or random_width")


@LEARNERS.register("mlp")
@dataclasses.dataclass(frozen=True)
class MLP(Learner):
    """``layers`` hidden dense layers of ``width`` units."""

    name = "mlp"
    width: int = 128

    def hidden_units(self):
        return [self.width] * self.layers

    def _init_hidden(self, shape, units, seed):
        return F.init_dense(math.prod(shape), units, seed)

    def _next_shape(self, shape, units):
        return [units]

    def footprint(self, input_shape, num_classes):
        w, n = self.width, self.layers
        return math.prod(input_shape) * w + (n - 1) * w * w + w * num_classes, n * w

    def _hidden(self, w, h):
        return F.dense(w, tf.reshape(h, [tf.shape(h)[0], -1]), bias=False)


@LEARNERS.register("conv")
@dataclasses.dataclass(frozen=True)
class Conv(Learner):
    """``layers`` 3x3 convolutions with stride 2, of ``width * 2**i`` channels."""

    name = "conv"
    layers: int = 2

    def hidden_units(self):
        return [self.width * 2 ** i for i in range(self.layers)]

    def _init_hidden(self, shape, units, seed):
        if len(shape) != 3:
            raise ConfigError(f"learner 'conv' needs images (height, width, channels), not shape {tuple(shape)}")
        return F.init_conv(shape[-1], units, seed)

    def _next_shape(self, shape, units):
        return [(shape[0] + 1) // 2, (shape[1] + 1) // 2, units]

    def footprint(self, input_shape, num_classes):
        shape, weights, activations = list(input_shape), 0, 0
        for i in range(self.layers):  # widths double: past 2**40 floats no machine holds them, so stop
            units = self.width * 2 ** i
            weights += 9 * shape[-1] * units
            shape = self._next_shape(shape, units)
            activations += math.prod(shape)
            if weights + activations > 2 ** 40:
                break
        return weights + math.prod(shape) * num_classes, activations

    def _hidden(self, w, h):
        return F.conv(w, h, stride=2, bias=False)


def make_learner(spec: str) -> Learner:
    """The learner of ``"name"`` or ``"name:key=value,..."``; unknown names or settings fail clearly."""
    name, settings = parse_spec(spec, LEARNERS)
    return LEARNERS.build(name, **settings)
