r"""Spike-event products, NumPy twins of ``spikegrad/kernels/spmm.cu``.

A spike matrix X is CSR with all values 1 (``indptr``, ``indices``; rows t * B + b):

    spike_matmul:   (X W)[r, j]   = sum_{i in row r} W[i, j]        (h = x W, ALGORITHM.md §2)
    spike_tmatmul:  (X^T E)[i, j] = sum_{r: i in row r} E[r, j]     (dW = x^T e1, §4)
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ..backend import Array, register


def _csr(indptr: Array, indices: Array, n_cols: int, dtype: np.dtype) -> scipy.sparse.csr_matrix:
    data = np.ones(indices.size, dtype=dtype)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, n_cols))


@register("spike_matmul", "numpy")
def spike_matmul(indptr: Array, indices: Array, w: Array) -> Array:
    """``X @ w`` for a 0/1 CSR matrix X.

    Shapes: indptr (R + 1,), indices (nnz,) in [0, C); w (C, M) -> (R, M).
    """
    return np.asarray(_csr(indptr, indices, w.shape[0], w.dtype) @ w)


@register("spike_tmatmul", "numpy")
def spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """``X^T @ e`` for a 0/1 CSR matrix X of n_cols columns. Shapes: e (R, M) -> (n_cols, M)."""
    return np.asarray(_csr(indptr, indices, n_cols, e.dtype).T @ e)
