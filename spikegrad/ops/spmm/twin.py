r"""Spike-event products, NumPy twins of ``spmm.cu`` and ``cpu.h`` beside this file.

A spike matrix X is CSR with all values 1 (``indptr``, ``indices``; rows t * B + b):

    spike_matmul:   (X W)[r, j]   = sum_{i in row r} W[i, j]        (h = x W, ALGORITHM.md §2)
    spike_tmatmul:  (X^T E)[i, j] = sum_{r: i in row r} E[r, j]     (dW = x^T e1, §4)

Both split the rows of X into contiguous blocks that run on a small thread pool (SciPy's
sparse kernels release the GIL), so the CPU backend uses every core as BLAS does for the
dense mode.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ...backend import Array, register
from ..common import check_csr
from ..half import widen
from ..threads import pool, row_blocks


def check_spike_matmul(indptr: Array, indices: Array, w: Array) -> None:
    """The checks of ``spike_matmul`` (every backend): a CSR pattern over w's rows."""
    check_csr(indptr, indices, indptr.size - 1, w.shape[0])


def check_spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> None:
    """The checks of ``spike_tmatmul`` (every backend): a CSR pattern of e's rows and n_cols
    columns."""
    check_csr(indptr, indices, e.shape[0], n_cols)


def _csr(indptr: Array, indices: Array, n_cols: int, dtype: np.dtype) -> scipy.sparse.csr_matrix:
    data = np.ones(indices.size, dtype=dtype)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, n_cols))


def _block(indptr: Array, indices: Array, lo: int, hi: int) -> tuple[Array, Array]:
    """Rows lo..hi of a CSR pattern as views (indptr rebased)."""
    return indptr[lo : hi + 1] - indptr[lo], indices[indptr[lo] : indptr[hi]]


@register("spike_matmul", "numpy")
def spike_matmul(indptr: Array, indices: Array, w: Array) -> Array:
    """``X @ w`` for a 0/1 CSR matrix X.

    Shapes: indptr (R + 1,), indices (nnz,) in [0, C); w (C, M) (or its 16-bit copy: read as
    float32, ops/half) -> (R, M).
    """
    check_spike_matmul(indptr, indices, w)
    w = widen(w)
    out = np.empty((indptr.size - 1, w.shape[1]), dtype=w.dtype)

    def work(lo: int, hi: int) -> None:
        ip, ind = _block(indptr, indices, lo, hi)
        out[lo:hi] = _csr(ip, ind, w.shape[0], w.dtype) @ w

    list(pool().map(lambda b: work(*b), row_blocks(indptr.size - 1)))
    return out


@register("spike_tmatmul", "numpy")
def spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """``X^T @ e`` for a 0/1 CSR matrix X of n_cols columns. Shapes: e (R, M) -> (n_cols, M)."""
    check_spike_tmatmul(indptr, indices, e, n_cols)

    def work(lo: int, hi: int) -> Array:
        ip, ind = _block(indptr, indices, lo, hi)
        return np.asarray(_csr(ip, ind, n_cols, e.dtype).T @ e[lo:hi])

    parts = list(pool().map(lambda b: work(*b), row_blocks(indptr.size - 1)))
    if not parts:
        return np.zeros((n_cols, e.shape[1]), dtype=e.dtype)
    out = parts[0]
    for p in parts[1:]:
        out += p
    return out
