"""The native CPU kernels (:mod:`spikegrad.native`) behind the NumPy twins' signatures.

Registered for the "native" backend; :func:`spikegrad.backend.lookup` prefers them over the
"numpy" twins while :func:`spikegrad.native.enabled` is true. Each wrapper takes and returns
exactly what its twin does (same shapes, dtypes and in-place behaviour) and hands arrays of a
dtype the kernels lack (anything but float32/float64) to the twin. Index arrays are checked
against the arrays they index (a C kernel would read out of bounds, not raise).
"""

from __future__ import annotations

import threading

import numpy as np

from .. import native
from ..backend import Array, register
from ..errors import ShapeError
from ..spikes import SpikeMatrix
from . import adam, lif, rlif, spmm
from .surrogate import ActiveSet, index_dtype

_SUFFIX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def _kernel(name: str, dtype: np.dtype):
    return getattr(native.library(), name + _SUFFIX[np.dtype(dtype)])


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def _c(a: Array) -> np.ndarray:
    return np.ascontiguousarray(a)


def checked_index(name: str, a: Array, n: int, dtype) -> np.ndarray:
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
    return ip, checked_index("indices", indices, n_cols, np.int32)


def _supported(a: Array) -> bool:
    return np.dtype(a.dtype) in _SUFFIX


def _in_place(a: Array) -> bool:
    """Whether a kernel can work on ``a`` in place (else its twin runs)."""
    return _supported(a) and a.ndim > 0 and a.flags.c_contiguous and a.flags.writeable


def _rows(a: np.ndarray) -> tuple[int, int]:
    """(T, elements per time step) of a time-major array."""
    T = a.shape[0]
    return T, (a.size // T if T else 0)


def _alpha(alpha: float | Array, dtype: np.dtype, n: int) -> np.ndarray:
    """alpha for the kernels: contiguous ``dtype`` values, one (a float) or ``n`` (one per
    neuron, the last axis)."""
    a = np.ascontiguousarray(alpha, dtype=dtype)
    if a.ndim > 1 or a.size not in (1, n):
        raise ShapeError(f"alpha must be a float or have shape ({n},); got shape {a.shape}")
    return a.reshape(-1)


def _last(a: np.ndarray) -> int:
    """The length of the neuron axis (the last) of a time-major array; 1 when 1-D."""
    return a.shape[-1] if a.ndim > 1 else 1


@register("lif_forward", "native")
def lif_forward(h: Array, alpha: float | Array, theta: float) -> Array:
    """See :func:`spikegrad.ops.lif.lif_forward` (overwrites h with V, returns the spikes)."""
    if not _in_place(h):
        return lif.lif_forward(h, alpha, theta)
    a = _alpha(alpha, h.dtype, _last(h))
    s = np.empty(h.shape, dtype=bool)
    fn = _kernel("lif_forward", h.dtype)
    fn(_ptr(h), _ptr(s), *_rows(h), _ptr(a), a.size, h.dtype.type(theta))
    return s


def _spike_forward(
    name: str,
    indptr: Array,
    indices: Array,
    w: Array,
    r: Array | None,
    alpha: float | Array,
    consts: tuple[float, float, float],
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The fused forward kernel of a feed-forward (r None) or recurrent layer; consts =
    (theta, beta_s, b_th)."""
    T, B = (int(v) for v in tb)
    if tuple(indptr.shape) != (T * B + 1,):
        raise ShapeError(f"indptr must have shape ({T * B + 1},); got {tuple(indptr.shape)}")
    w = _c(w)
    n_in, n = w.shape
    if r is not None and tuple(r.shape) != (n, n):
        raise ShapeError(f"r must have shape ({n}, {n}); got {tuple(r.shape)}")
    r = None if r is None else _c(r)
    ip, ind = _csr(indptr, indices, T * B, n_in)
    a, ft, counts = _alpha(alpha, w.dtype, n), w.dtype.type, np.zeros(2, dtype=np.int64)
    res = _kernel("lif_spike_forward", w.dtype)(
        _ptr(ip), _ptr(ind), _ptr(w), None if r is None else _ptr(r), T, B, n,
        _ptr(a), a.size, *map(ft, consts), _ptr(counts),
    )  # fmt: skip
    if not res:
        raise MemoryError(f"{name}: out of memory for the spike and active lists")
    keys = np.empty(int(counts[0]), dtype=np.int64)
    idx = np.empty(int(counts[1]), dtype=index_dtype(T * B * n))
    sp = np.empty(int(counts[1]), dtype=w.dtype)
    if native.library().sg_forward_take(res, _ptr(keys), _ptr(idx), idx.itemsize == 8, _ptr(sp)):
        raise MemoryError(f"{name}: out of memory laying out its result")
    return keys, ActiveSet(idx, sp)


@register("lif_forward_sparse_spikes", "native")
def lif_forward_sparse_spikes(
    indptr: Array,
    indices: Array,
    w: Array,
    alpha: float | Array,
    theta: float,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """See :func:`spikegrad.ops.lif.lif_forward_sparse_spikes`: one fused kernel computes the
    input current from the spike events inside the scan and emits the spikes and the active
    set; no (T, B, N) array is made."""
    if not _supported(w):
        return lif.lif_forward_sparse_spikes(indptr, indices, w, alpha, theta, beta_s, b_th, tb)
    consts = (theta, beta_s, b_th)
    return _spike_forward("lif_forward_sparse_spikes", indptr, indices, w, None, alpha, consts, tb)


@register("rlif_forward_sparse_spikes", "native")
def rlif_forward_sparse_spikes(
    indptr: Array,
    indices: Array,
    w: Array,
    r: Array,
    alpha: float | Array,
    theta: float,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """See :func:`spikegrad.ops.rlif.rlif_forward_sparse_spikes`: the fused kernel adds the
    rows of R of each step's spikes to the input current inside the scan (the twin's order, so
    the same bits); no (T, B, N) array is made."""
    if not _supported(w) or r.dtype != w.dtype:
        return rlif.rlif_forward_sparse_spikes(
            indptr, indices, w, r, alpha, theta, beta_s, b_th, tb
        )
    consts = (theta, beta_s, b_th)
    return _spike_forward("rlif_forward_sparse_spikes", indptr, indices, w, r, alpha, consts, tb)


_workspace = threading.local()


def _scratch(n: int, dtype: np.dtype) -> np.ndarray:
    """A buffer of ``n`` elements of ``dtype``, kept per thread and reused between calls."""
    dtype = np.dtype(dtype)
    buf = getattr(_workspace, "buf", None)
    if buf is None or buf.nbytes < n * dtype.itemsize:
        buf = _workspace.buf = np.empty(n * dtype.itemsize, dtype=np.uint8)
    return buf[: n * dtype.itemsize].view(dtype)


def _sorted_keys(name: str, a: Array, limit: int) -> np.ndarray:
    """``a`` as contiguous int64, strictly increasing within 0..limit-1 (else ShapeError)."""
    a = checked_index(name, a, limit, np.int64)
    if a.size > 1 and not bool((a[1:] > a[:-1]).all()):
        raise ShapeError(f"{name} must be strictly increasing (an ActiveSet is sorted)")
    return a


def _spike_backward(
    name: str,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix | None,
    w: Array,
    r: Array | None,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The fused backward kernel of a feed-forward (r, s None) or recurrent layer: dw, dr
    (None when feed-forward) and dx."""
    T, B, N = (int(v) for v in shape)
    w = _c(w)
    n_in = w.shape[0]
    if w.shape[1] != N or g.shape != act.idx.shape or act.sp.shape != act.idx.shape:
        raise ShapeError(f"{name}: g, act and w do not match the shape (T, B, N)")
    if r is not None and tuple(r.shape) != (N, N):
        raise ShapeError(f"r must have shape ({N}, {N}); got {tuple(r.shape)}")
    idx = _sorted_keys("act.idx", act.idx, T * B * N)
    pidx = None if prev is None else _sorted_keys("prev.idx", prev.idx, T * B * n_in)
    ip, ind = _csr(x.indptr, x.indices, T * B, n_in)
    sip, sind = (None, None) if s is None else _csr(s.indptr, s.indices, T * B, N)
    g, sp, a = _c(g), _c(act.sp), _alpha(alpha, w.dtype, N)
    r = None if r is None else _c(r)
    dw = np.empty((n_in, N), dtype=w.dtype)
    dr = None if r is None else np.empty((N, N), dtype=w.dtype)
    dx = None if pidx is None else np.empty(pidx.size, dtype=w.dtype)
    chunks = int(native.library().sg_backward_chunks(B))
    part = _scratch((chunks - 1) * (n_in * N + (0 if r is None else N * N)), w.dtype)

    def ptr(a: np.ndarray | None) -> int | None:
        return None if a is None else _ptr(a)

    status = _kernel("lif_spike_backward", w.dtype)(
        _ptr(g), _ptr(sp), _ptr(idx), idx.size, _ptr(ip), _ptr(ind), _ptr(w), ptr(r),
        ptr(sip), ptr(sind), n_in, N, ptr(pidx), 0 if pidx is None else pidx.size, T, B,
        _ptr(a), a.size, _ptr(dw), ptr(dr), ptr(dx), _ptr(part),
    )  # fmt: skip
    if status != 0:
        raise MemoryError(f"{name}: out of memory for its per-chunk state")
    return dw, dr, dx


@register("lif_backward_sparse", "native")
def lif_backward_sparse(
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    w: Array,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
):
    """See :func:`spikegrad.ops.lif.lif_backward_sparse`: one reverse sweep over time per
    chunk of samples holds eps only for the present step, so no (T, B, N) array is made;
    dW sums one partial per chunk (fixed by B, not by the thread count) in chunk order."""
    if not (_supported(w) and g.dtype == w.dtype == act.sp.dtype):
        return lif.lif_backward_sparse(g, act, x, w, alpha, prev, shape)
    dw, _, dx = _spike_backward("lif_backward_sparse", g, act, x, None, w, None, alpha, prev, shape)
    return dw, dx


@register("rlif_backward_sparse", "native")
def rlif_backward_sparse(
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix,
    w: Array,
    r: Array,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array, Array | None]:
    """See :func:`spikegrad.ops.rlif.rlif_backward_sparse`: the reverse sweep of
    ``lif_backward_sparse`` with the recurrent term R[j] . eps[t+1] evaluated only at the
    active entries and dR summed from the layer's own spike events (one partial per chunk,
    added in chunk order: independent of the thread count)."""
    if not (_supported(w) and g.dtype == w.dtype == act.sp.dtype == r.dtype):
        return rlif.rlif_backward_sparse(g, act, x, s, w, r, alpha, prev, shape)
    return _spike_backward("rlif_backward_sparse", g, act, x, s, w, r, alpha, prev, shape)


@register("leaky_scan_reverse", "native")
def leaky_scan_reverse(e: Array, alpha: float | Array) -> Array:
    """See :func:`spikegrad.ops.lif.leaky_scan_reverse` (in place; its denormal policy)."""
    if not _in_place(e):
        return lif.leaky_scan_reverse(e, alpha)
    a = _alpha(alpha, e.dtype, _last(e))
    _kernel("leaky_scan_reverse", e.dtype)(_ptr(e), *_rows(e), _ptr(a), a.size)
    return e


@register("leaky_scan", "native")
def leaky_scan(x: Array, alpha: float, gain: float) -> Array:
    """See :func:`spikegrad.ops.lif.leaky_scan`."""
    if not _supported(x) or x.ndim == 0:
        return lif.leaky_scan(x, alpha, gain)
    x = _c(x)
    y = np.empty_like(x)
    ft = x.dtype.type
    _kernel("leaky_scan", x.dtype)(_ptr(x), _ptr(y), *_rows(x), ft(alpha), ft(gain))
    return y


@register("adam_update_multi", "native")
def adam_update_multi(
    ps: list[Array],
    gs: list[Array],
    ms: list[Array],
    vs: list[Array],
    step: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    wd: float = 0.0,
) -> None:
    """See :func:`spikegrad.ops.adam.adam_update_multi` (one fused pass per parameter; the same
    bits; a parameter of another dtype or layout goes to the twin)."""
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        arrays = (p, g, m, v)
        if not (all(_in_place(a) and a.dtype == p.dtype for a in arrays) and g.shape == p.shape):
            adam.adam_update(p, g, m, v, step, lr, b1, b2, eps, wd)
            continue
        t = p.dtype.type
        consts = (b1, 1 - b1, b2, 1 - b2, 1 - b1**step, 1 - b2**step, lr, eps, 1 - lr * wd)
        _kernel("adam_update", p.dtype)(*(_ptr(a) for a in arrays), p.size, *map(t, consts))


@register("gather_rowdot", "native")
def gather_rowdot(e: Array, rows: Array, w: Array, cols: Array) -> Array:
    """See :func:`spikegrad.ops.lif.gather_rowdot`."""
    if not _supported(e) or w.dtype != e.dtype:
        return lif.gather_rowdot(e, rows, w, cols)
    if e.shape[1] != w.shape[1]:
        raise ShapeError(f"e and w need the same row length; got {e.shape[1]} and {w.shape[1]}")
    e, w = _c(e), _c(w)
    r, c = (
        checked_index("rows", rows, e.shape[0], np.int64),
        checked_index("cols", cols, w.shape[0], np.int32),
    )
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
