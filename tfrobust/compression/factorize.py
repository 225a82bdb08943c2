"""Factorization of a kernel as ``B (A + I) + C`` (ATMC, Gui et al. 2019), in NumPy.

Layout (Keras's: output channels last). A Dense kernel ``(n_in, n_out)`` is its own matrix; a
Conv2D kernel ``(kh, kw, c_in, n_out)`` is the matrix ``(kh * kw * c_in, n_out)`` (a row-major
reshape: row ``(i * kw + j) * c_in + k`` is tap ``(i, j)`` of input channel ``k``). For a rank ``r``:

    K = B @ (A + I) + C        B: (n_in, r)   A: (r, n_out)   I = eye(r, n_out)   C: (n_in, n_out)

``I`` is the ``r x n_out`` truncated identity, a constant. The reference (shupenggui/ATMC,
``svd_weights_v3``) works on the transposed matrix ``W = K.T`` (out x in), where its ``weightB`` is
our ``A.T`` and its ``weightA`` our ``B.T``; it adds the identity to whichever factor is square, so
it only handles full rank. Putting ``I`` on ``A`` always, truncated to ``r x n_out``, gives the same
reparameterisation at full rank and also works below it. ``C`` is the sparse error term.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tfrobust.errors import ConfigError


def matrix_shape(shape: Sequence[int]) -> Tuple[int, int]:
    """``(n_in, n_out)`` of a kernel shape: every axis but the last, flattened, then the last."""
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        raise ConfigError(f"a kernel has at least 2 axes; shape {shape} has {len(shape)}")
    return int(np.prod(shape[:-1])), shape[-1]


def as_matrix(kernel) -> np.ndarray:
    """The ``(n_in, n_out)`` matrix of a Dense ``(in, out)`` or Conv2D ``(kh, kw, in, out)`` kernel."""
    kernel = np.asarray(kernel)
    return kernel.reshape(matrix_shape(kernel.shape))


def from_matrix(matrix, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`as_matrix`: the kernel of ``shape`` whose matrix is ``matrix``."""
    matrix = np.asarray(matrix)
    if matrix.shape != matrix_shape(shape):
        raise ConfigError(f"a matrix of shape {matrix.shape} is not the matrix of a kernel of shape "
                          f"{tuple(shape)}; it must be {matrix_shape(shape)}")
    return matrix.reshape(tuple(shape))


def full_rank(shape: Sequence[int]) -> int:
    """``min(n_in, n_out)``: the largest rank a kernel of ``shape`` can have."""
    return min(matrix_shape(shape))


def check_rank(shape: Sequence[int], rank: int, name: Optional[str] = None) -> int:
    """``rank`` as an int, if ``1 <= rank <= full_rank(shape)``; a ConfigError naming ``name`` if not."""
    where = f"layer {name!r}" if name else f"a kernel of shape {tuple(shape)}"
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)):
        raise ConfigError(f"rank {rank!r} of {where} must be an integer")
    full = full_rank(shape)
    if rank < 1:
        raise ConfigError(f"rank {rank} of {where} must be at least 1")
    if rank > full:
        raise ConfigError(f"rank {rank} is above the full rank {full} of {where}")
    return int(rank)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def factors(kernel, rank: int, name: Optional[str] = None) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(b, a, c)`` with ``b @ (a + eye(rank, n_out)) + c`` the best rank-``rank`` approximation of
    the kernel's matrix (Eckart–Young; the kernel itself at full rank, up to float rounding).

    As the reference does: from the SVD ``U S V^T`` truncated to ``rank``, ``b = U sqrt(S)`` and
    ``a = sqrt(S) V^T``, both rescaled (by reciprocal factors) to the same root mean square; then
    the identity is subtracted from ``a``, and ``c`` is zero. Computed in float64, returned in the
    kernel's float dtype (float32 for non-float input). ``name`` names the layer in errors."""
    kernel = np.asarray(kernel)
    rank = check_rank(kernel.shape, rank, name)
    dtype = kernel.dtype if np.issubdtype(kernel.dtype, np.floating) else np.float32
    matrix = as_matrix(kernel).astype(np.float64)
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    root = np.sqrt(s[:rank])
    b, a = u[:, :rank] * root, root[:, None] * vt[:rank]
    rms_b, rms_a = _rms(b), _rms(a)
    if rms_b > 0 and rms_a > 0:  # a zero kernel has zero factors
        common = np.sqrt(rms_b * rms_a)
        b, a = b * (common / rms_b), a * (common / rms_a)
    a = a - np.eye(rank, matrix.shape[1])
    return b.astype(dtype), a.astype(dtype), np.zeros(matrix.shape, dtype)


def global_ranks(kernels: Dict[str, np.ndarray], keep: float) -> Dict[str, int]:
    """ALR's global truncation (the reference's ``svd_global_lowrank_weights``): pools the singular
    values of every kernel's matrix and keeps the largest ``ceil(keep * total)`` of them overall
    (the reference keeps ``total - floor((1 - keep) * total)``, the same number); a kernel's rank is
    the number of its values kept, at least 1. Ties go to the kernel that comes first in
    ``kernels``. Returns name -> rank, in the order of ``kernels``."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float, np.floating, np.integer)) \
            or not 0 < keep <= 1:
        raise ConfigError(f"keep {keep!r} must be a fraction of the singular values in (0, 1]")
    if not kernels:
        raise ConfigError("global_ranks needs at least one kernel")
    values = {name: np.linalg.svd(as_matrix(k).astype(np.float64), compute_uv=False)
              for name, k in kernels.items()}
    pooled = np.concatenate(list(values.values()))
    count = min(pooled.size, int(np.ceil(np.round(keep * pooled.size, 9))))
    kept = np.zeros(pooled.size, bool)
    kept[np.argsort(-pooled, kind="stable")[:count]] = True
    ranks, offset = {}, 0
    for name, s in values.items():
        ranks[name] = max(1, int(kept[offset:offset + s.size].sum()))
        offset += s.size
    return ranks


def factorized_params(shape: Sequence[int], rank: int, c_nonzeros: int = 0) -> int:
    """The paper's weight count of a kernel of ``shape`` factorized at ``rank`` with dense factors:
    ``n_in * rank + rank * n_out`` entries of B and A, plus ``c_nonzeros``, the kept (nonzero)
    entries of the sparse term C (0 right after :func:`factors`). The identity is a constant, and
    not counted; nor are biases. Compare with ``n_in * n_out`` for the dense kernel."""
    rank = check_rank(shape, rank)
    n_in, n_out = matrix_shape(shape)
    if not 0 <= c_nonzeros <= n_in * n_out:
        raise ConfigError(f"c_nonzeros {c_nonzeros} must be between 0 and {n_in * n_out} for a kernel "
                          f"of shape {tuple(shape)}")
    return n_in * rank + rank * n_out + int(c_nonzeros)
