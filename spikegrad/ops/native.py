"""The native CPU kernels (:mod:`spikegrad.native`) behind the NumPy twins' signatures.

Registered for the "native" backend; :func:`spikegrad.backend.lookup` prefers them over the
"numpy" twins while :func:`spikegrad.native.enabled` is true. Each wrapper takes and returns
exactly what its twin does (same shapes, dtypes and in-place behaviour) and hands arrays of a
dtype the kernels lack (anything but float32/float64) to the twin. Index arrays are checked
against the arrays they index (a C kernel would read out of bounds, not raise).
"""

from __future__ import annotations

import numpy as np

from .. import native
from ..backend import Array, register
from ..errors import ShapeError
from . import lif, spmm
from .surrogate import ActiveSet, index_dtype

_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def _kernel(name: str, dtype: np.dtype):
    return getattr(native.library(), name + _SUFFIX[np.dtype(dtype)])


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def _c(a: Array) -> np.ndarray:
    return np.ascontiguousarray(a)


def _index(name: str, a: Array, n: int, dtype) -> np.ndarray:
    """``a`` as a contiguous ``dtype`` array, every entry in 0..n-1 (else ShapeError)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.size and (a.min() < 0 or a.max() >= n):
        raise ShapeError(f"{name} must lie in 0..{n - 1}; got {a.min()}..{a.max()}")
    return a


def _csr(indptr: Array, indices: Array, n_rows: int, n_cols: int):
    """A CSR pattern for the kernels: int64 row pointers, int32 indices, both checked."""
    ip = np.ascontiguousarray(indptr, dtype=np.int64)
    if (
        ip.shape != (n_rows + 1,)
        or ip[0] != 0
        or ip[-1] != indices.size
        or np.any(ip[1:] < ip[:-1])
    ):
        raise ShapeError(f"indptr must be {n_rows + 1} non-decreasing offsets from 0 to nnz")
    return ip, _index("indices", indices, n_cols, np.int32)


def _supported(a: Array) -> bool:
    return np.dtype(a.dtype) in _SUFFIX


def _in_place(a: Array) -> bool:
    """Whether a kernel can work on ``a`` in place (else its twin runs)."""
    return _supported(a) and a.ndim > 0 and a.flags.c_contiguous and a.flags.writeable


def _rows(a: np.ndarray) -> tuple[int, int]:
    """(T, elements per time step) of a time-major array."""
    T = a.shape[0]
    return T, (a.size // T if T else 0)


def _scan(
    h: np.ndarray,
    act: np.ndarray | None,
    alpha: float,
    theta: float,
    beta_s: float = 0.0,
    b_th: float = 0.0,
) -> np.ndarray:
    """Run the LIF scan kernel over h (``act`` None: the plain scan); returns the spikes."""
    s = np.empty(h.shape, dtype=bool)
    ft = h.dtype.type
    _kernel("lif_forward", h.dtype)(
        _ptr(h), _ptr(s), None if act is None else _ptr(act), *_rows(h),
        ft(alpha), ft(theta), ft(beta_s), ft(b_th),
    )  # fmt: skip
    return s


@register("lif_forward", "native")
def lif_forward(h: Array, alpha: float, theta: float) -> Array:
    """See :func:`spikegrad.ops.lif.lif_forward` (overwrites h with V, returns the spikes)."""
    if not _in_place(h):
        return lif.lif_forward(h, alpha, theta)
    return _scan(h, None, alpha, theta)


@register("lif_forward_sparse", "native")
def lif_forward_sparse(
    h: Array, alpha: float, theta: float, beta_s: float, b_th: float
) -> tuple[Array, ActiveSet]:
    """See :func:`spikegrad.ops.lif.lif_forward_sparse` (one fused scan; h is overwritten)."""
    if not _in_place(h):
        return lif.lif_forward_sparse(h, alpha, theta, beta_s, b_th)
    act = np.empty(h.shape, dtype=bool)
    s = _scan(h, act, alpha, theta, beta_s, b_th)
    idx = flatnonzero(act, index_dtype(h.size))
    return flatnonzero(s, np.int64), ActiveSet(idx, h.reshape(-1)[idx])


def flatnonzero(mask: Array, dtype: type = np.int64) -> np.ndarray:
    """``np.flatnonzero`` of a C-contiguous bool array, in parallel, as int32 or int64."""
    lib = native.library()
    n = mask.size
    out = np.empty(lib.sg_count_nonzero(_ptr(mask), n), dtype=dtype)
    fill = lib.sg_nonzero_i32 if np.dtype(dtype) == np.int32 else lib.sg_nonzero_i64
    if fill(_ptr(mask), n, _ptr(out)) != out.size:
        raise MemoryError("flatnonzero: no memory for the chunk table")
    return out


@register("leaky_scan_reverse", "native")
def leaky_scan_reverse(e: Array, alpha: float) -> Array:
    """See :func:`spikegrad.ops.lif.leaky_scan_reverse` (in place; its denormal policy)."""
    if not _in_place(e):
        return lif.leaky_scan_reverse(e, alpha)
    _kernel("leaky_scan_reverse", e.dtype)(_ptr(e), *_rows(e), e.dtype.type(alpha))
    return e


@register("gather_rowdot", "native")
def gather_rowdot(e: Array, rows: Array, w: Array, cols: Array) -> Array:
    """See :func:`spikegrad.ops.lif.gather_rowdot`."""
    if not _supported(e) or w.dtype != e.dtype:
        return lif.gather_rowdot(e, rows, w, cols)
    if e.shape[1] != w.shape[1]:
        raise ShapeError(f"e and w need the same row length; got {e.shape[1]} and {w.shape[1]}")
    e, w = _c(e), _c(w)
    r, c = _index("rows", rows, e.shape[0], np.int64), _index("cols", cols, w.shape[0], np.int32)
    out = np.empty(r.shape[0], dtype=e.dtype)
    _kernel("gather_rowdot", e.dtype)(
        _ptr(e), e.shape[1], _ptr(r), _ptr(w), _ptr(c), r.size, _ptr(out)
    )
    return out


@register("spike_matmul", "native")
def spike_matmul(indptr: Array, indices: Array, w: Array) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_matmul`."""
    if not _supported(w):
        return spmm.spike_matmul(indptr, indices, w)
    w = _c(w)
    ip, ind = _csr(indptr, indices, indptr.size - 1, w.shape[0])
    out = np.empty((ip.size - 1, w.shape[1]), dtype=w.dtype)
    _kernel("spike_matmul", w.dtype)(
        _ptr(ip), _ptr(ind), ip.size - 1, _ptr(w), w.shape[1], _ptr(out)
    )
    return out


@register("spike_tmatmul", "native")
def spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_tmatmul`."""
    if not _supported(e):
        return spmm.spike_tmatmul(indptr, indices, e, n_cols)
    e = _c(e)
    ip, ind = _csr(indptr, indices, e.shape[0], n_cols)
    out = np.empty((n_cols, e.shape[1]), dtype=e.dtype)
    fn = _kernel("spike_tmatmul", e.dtype)
    if fn(_ptr(ip), _ptr(ind), ip.size - 1, _ptr(e), e.shape[1], n_cols, _ptr(out)) != 0:
        raise MemoryError(f"spike_tmatmul: no memory for a ({n_cols}, {e.shape[1]}) buffer")
    return out
