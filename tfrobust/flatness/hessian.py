"""Hessian-vector products of the (robust) loss and the Hessian's extreme eigenvalues.

The Hessian is that of the mean cross-entropy over the given examples with respect to the
perturbable variables (:func:`~tfrobust.flatness.perturbation.perturbable`: every trainable variable
outside normalisation layers), flattened into one vector in that order and restricted to the masks'
support: the vector has one coordinate per weight on a support (pruned weights are not coordinates
at all, so they add no spurious zero eigenvalues). A product is forward-over-backward: a
``tf.autodiff.ForwardAccumulator`` around a ``GradientTape`` gradient, one compiled graph per batch
shape; scipy sees float64.

The robust version (``attack`` given) differentiates the loss on adversarial examples computed once
at ``w`` and then held fixed (Danskin's theorem: the gradient of the max is the gradient at the
maximiser; the Hessian so obtained ignores how the maximiser moves with ``w``).

Departures from the reference (common/hessian.py, after Li et al.'s loss-landscape code): it uses the
clean loss only, on the weights of rank > 1 (no biases), sums the per-batch mean losses (a multiple
of the mean), and calls ``eigsh(which='BE', k=2..4, tol=1e-2)`` on 500 test examples; here every
perturbable variable counts, the loss is the mean over all examples, and λ_max and λ_min come from
two calls (``which='LA'`` and ``'SA'``), each with a seeded start vector (repeatable).
"""
from __future__ import annotations

import dataclasses
import weakref
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import per_example_loss
from tfrobust.errors import ConfigError
from tfrobust.flatness.losses import adversarial_batches, as_attack, batches, count_examples
from tfrobust.flatness.perturbation import check_count, check_positive, check_seed, perturbable


class HessianOperator:
    """``H v`` for flat float64 vectors ``v`` of length :attr:`size` (see the module docstring).

    ``x``, ``y``: the examples (arrays), in batches of ``batch_size`` (all at once if ``None``);
    with ``attack``, replaced once by the attack's outputs at the current weights (batch ``b``
    seeded ``[seed, b]``). :attr:`products` counts the products computed. Build a new operator
    after the masks or the examples change."""

    def __init__(self, model, x, y, attack=None, batch_size: Optional[int] = None, seed: int = 0):
        attack = as_attack(attack)
        seed = check_seed(seed)
        if batch_size is None:  # all examples in one batch
            batch_size = max(int(np.shape(x)[0]) if np.ndim(x) > 0 else 1, 1)
        data = batches((x, y), None, batch_size)
        if attack is not None:
            data = adversarial_batches(model, data, attack, seed)
        self.data = data
        self.entries = perturbable(model)
        self.indices = []
        for e in self.entries:
            if e.mask is None:
                self.indices.append(None)
            else:
                self.indices.append(tf.constant(np.flatnonzero(e.mask.numpy().reshape(-1)), tf.int64))
        self.size = sum(e.support_size() for e in self.entries)
        self.scale = tf.constant(1.0 / count_examples(data), tf.float32)
        self.products = 0
        self._fn = self._compile(model, data[0][0].shape[1:])

    def _compile(self, model, input_shape):
        ref = weakref.ref(model)
        entries, indices = self.entries, self.indices
        variables = [e.variable for e in entries]

        @tf.function(input_signature=[tf.TensorSpec([None, *input_shape], tf.float32),
                                      tf.TensorSpec([None], tf.int64), tf.TensorSpec([self.size], tf.float32),
                                      tf.TensorSpec([], tf.float32)])
        def hvp(x, y, v, scale):
            tangents, offset = [], 0
            for e, idx in zip(entries, indices):
                shape = e.variable.shape
                if idx is None:
                    k = int(np.prod(shape))
                    tangents.append(tf.reshape(v[offset:offset + k], shape))
                else:
                    k = int(idx.shape[0])
                    full = tf.scatter_nd(idx[:, None], v[offset:offset + k], [int(np.prod(shape))])
                    tangents.append(tf.reshape(full, shape))
                offset += k
            with tf.autodiff.ForwardAccumulator(variables, tangents) as acc:
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(per_example_loss(ref()(x, training=False), y)) * scale
                grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            products = acc.jvp(grads, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            out = []
            for p, idx in zip(products, indices):
                flat = tf.reshape(p, [-1])
                out.append(flat if idx is None else tf.gather(flat, idx))
            return tf.concat(out, 0)

        return hvp

    def __call__(self, v) -> np.ndarray:
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape[0] != self.size:
            raise ConfigError(f"v has {v.shape[0]} entries; v must have {self.size} (one per weight on a support)")
        v32 = tf.constant(v.astype(np.float32))
        total = np.zeros(self.size, np.float64)
        for x, y in self.data:
            total += self._fn(x, y, v32, self.scale).numpy().astype(np.float64)
        self.products += 1
        return total

    def linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (float64, symmetric) of this operator."""
        from scipy.sparse.linalg import LinearOperator

        return LinearOperator((self.size, self.size), matvec=self.__call__, rmatvec=self.__call__,
                              dtype=np.float64)


def hessian_vector_product(model, x, y, attack=None, batch_size: Optional[int] = None,
                           seed: int = 0) -> HessianOperator:
    """The Hessian-vector product of the mean (robust) cross-entropy on ``(x, y)``, as a callable
    on flat vectors (:class:`HessianOperator`)."""
    return HessianOperator(model, x, y, attack, batch_size, seed)


@dataclasses.dataclass(frozen=True)
class Eigenvalues:
    """``largest`` (descending) and ``smallest`` (ascending): the ``k`` extreme eigenvalues;
    ``max`` = λ_max and ``min`` = λ_min; ``products``: Hessian-vector products computed; ``size``:
    the dimension."""

    max: float
    min: float
    largest: Tuple[float, ...]
    smallest: Tuple[float, ...]
    products: int
    size: int


def extreme_eigenvalues(model, x, y, attack=None, k: int = 1, tol: float = 1e-2, maxiter: Optional[int] = None,
                        batch_size: Optional[int] = None, seed: int = 0) -> Eigenvalues:
    """λ_max and λ_min (and the ``k`` largest and smallest eigenvalues) of the Hessian of the mean
    (robust) cross-entropy on ``(x, y)``, by Lanczos (``scipy.sparse.linalg.eigsh``, ``which='LA'``
    then ``'SA'``) on the compiled Hessian-vector product. ``tol``: eigsh's relative accuracy (the
    reference's 1e-2; 0 means machine precision); ``maxiter``: its iteration limit (None: its
    default); the start vector is drawn from ``seed``."""
    from scipy.sparse.linalg import eigsh

    if maxiter is not None:
        check_count(maxiter, "maxiter")
    if tol != 0:
        tol = check_positive(tol, "tol")
    op = HessianOperator(model, x, y, attack, batch_size, seed)
    k = check_count(k, "k")
    if k >= op.size:
        raise ConfigError(f"k={k} is not allowed; k must be smaller than the Hessian's dimension {op.size}")
    v0 = np.random.default_rng(check_seed(seed)).standard_normal(op.size)
    linear = op.linear_operator()
    top = np.sort(eigsh(linear, k=k, which="LA", tol=tol, maxiter=maxiter, v0=v0, return_eigenvectors=False))[::-1]
    bottom = np.sort(eigsh(linear, k=k, which="SA", tol=tol, maxiter=maxiter, v0=v0, return_eigenvectors=False))
    return Eigenvalues(float(top[0]), float(bottom[0]), tuple(float(t) for t in top),
                       tuple(float(b) for b in bottom), op.products, op.size)
