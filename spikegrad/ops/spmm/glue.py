"""The spike-event products' kernels behind the twins' signatures: the native C wrappers
(``cpu.h``) and the CUDA host code (``spmm.cu``). Each runs the twin's check first; the
native ones hand a dtype the kernels lack to the twin.
"""

from __future__ import annotations

import numpy as np

from ... import kernels, native
from ...backend import Array, get_xp
from ...kernels.host import Launcher, cuda_op, in_array, index_arrays, run
from ..common import contiguous, native_op, ptr, supported
from ..half import compute_dtype, weights_read
from ..half.glue import weights_in
from ..surrogate import index_dtype
from . import twin
from .twin import check_spike_matmul, check_spike_tmatmul

native.c_family(
    __file__,
    typed=("cpu.h",),
    typed_weights=("cpu_weights.h",),
    reads_weights=("spike_matmul",),
    typed_functions={
        "spike_matmul": ("void", "p p i64 p i64 p"),
        "spike_tmatmul": ("int", "p p i64 p i64 i64 p"),  # 0, or -1: out of memory
    },
)
kernels.add_module(
    "spmm",
    __file__,
    {
        "spmm_csr_kernel": ("T", "W", "I"),
        "spmm_csr_t_atomic_kernel": ("T", "I"),
        "spmm_t_seg_kernel": ("T", "I"),
        "spmm_t_seg_fix_kernel": ("T", "I"),
        "spmm_t_chunk_kernel": ("T", "I"),
        "sum_leading_kernel": ("T",),
    },
)


# ---------------------------------------------------------------------------- native C
@native_op("spike_matmul", twin.spike_matmul, lambda ip, ind, w: weights_read(w))
def spike_matmul(indptr: Array, indices: Array, w: Array) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_matmul`."""
    check_spike_matmul(indptr, indices, w)
    w, dt = contiguous(w), compute_dtype(w)
    ip, ind = contiguous(indptr, np.int64), contiguous(indices, np.int32)
    out = np.empty((ip.size - 1, w.shape[1]), dtype=dt)
    native.function("spike_matmul", dt, w.dtype)(
        ptr(ip), ptr(ind), ip.size - 1, ptr(w), w.shape[1], ptr(out)
    )
    return out


@native_op("spike_tmatmul", twin.spike_tmatmul, lambda ip, ind, e, n: supported(e))
def spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_tmatmul`."""
    check_spike_tmatmul(indptr, indices, e, n_cols)
    e = contiguous(e)
    ip, ind = contiguous(indptr, np.int64), contiguous(indices, np.int32)
    out = np.empty((n_cols, e.shape[1]), dtype=e.dtype)
    fn = native.function("spike_tmatmul", e.dtype)
    if fn(ptr(ip), ptr(ind), ip.size - 1, ptr(e), e.shape[1], n_cols, ptr(out)) != 0:
        raise MemoryError(f"spike_tmatmul: no memory for a ({n_cols}, {e.shape[1]}) buffer")
    return out


# ------------------------------------------------------------------------- CUDA host
@cuda_op("spike_matmul")
def cuda_spike_matmul(launch: Launcher, indptr: Array, indices: Array, w: Array) -> Array:
    """``X @ w`` for a 0/1 CSR matrix X (its stored values are taken as 1).

    Shapes: indptr (R + 1,), indices (nnz,) in [0, C); w (C, M) -> (R, M).
    """
    check_spike_matmul(indptr, indices, w)
    w = weights_in("w", w)
    dt = compute_dtype(w)
    idt, (indptr, indices) = index_arrays(indptr, indices, least=index_dtype(0))
    n_rows, m = indptr.size - 1, w.shape[1]
    out = get_xp(w).empty((n_rows, m), dtype=dt)
    run(
        launch,
        "spmm",
        "spmm_csr_kernel",
        kernels.template_args(dt, idt, weights=w.dtype),
        n_rows * m,
        (indptr, indices, w, np.int64(n_rows), np.int64(m), out),
    )
    return out


# Deterministic dW = X^T e (spmm.cu): the chunked scheme for narrow outputs (n_cols * M up to
# DW_NARROW: the readout's N_L x K), the segmented scheme otherwise. Segment and chunk lengths
# depend on the data only, never on the grid, so the sums are the same on any grid.
DW_NARROW = 1 << 14  # outputs up to which the chunked scheme runs
DW_SEGMENT = 128  # events per segment of the segmented scheme
DW_CHUNK_MIN = 256  # events per chunk of the chunked scheme: at least this many ...
DW_CHUNK_PER_COL = 4  # ... and this many per output row, so partials <= 1/4 of the terms


@cuda_op("spike_tmatmul")
def cuda_spike_tmatmul(
    launch: Launcher, indptr: Array, indices: Array, e: Array, n_cols: int
) -> Array:
    """``X^T @ e`` for a 0/1 CSR matrix X of n_cols columns.

    Atomic mode: atomicAdd from every (row, j). Deterministic mode (no float atomics, bitwise
    reproducible on any grid): n_cols * M <= DW_NARROW takes the chunked scheme (partials per
    chunk of CSR events, summed in chunk order), larger outputs the segmented one (the events
    sorted by (column, row) on the device, fixed-length segments, cut columns fixed up in
    segment order); see spmm.cu. Both read each (event, j) term once, as the atomic kernel
    adds it once. Shapes: indptr (R + 1,), indices (nnz,); e (R, M) -> (n_cols, M).
    """
    check_spike_tmatmul(indptr, indices, e, n_cols)
    e = in_array("e", e)
    dt = e.dtype
    xp = get_xp(e)
    idt, (indptr, indices) = index_arrays(indptr, indices, least=index_dtype(0))
    n_rows, m = indptr.size - 1, e.shape[1]
    nnz = indices.size
    if not kernels.is_deterministic():
        out = xp.zeros((n_cols, m), dtype=dt)
        run(
            launch,
            "spmm",
            "spmm_csr_t_atomic_kernel",
            kernels.template_args(dt, idt),
            n_rows * m,
            (indptr, indices, e, np.int64(n_rows), np.int64(m), out),
        )
        return out
    if nnz == 0 or n_cols * m == 0:
        return xp.zeros((n_cols, m), dtype=dt)
    out = xp.empty((n_cols, m), dtype=dt)
    if n_cols * m <= DW_NARROW:
        chunk = max(DW_CHUNK_MIN, DW_CHUNK_PER_COL * n_cols)
        n_chunk = -(-nnz // chunk)
        part = xp.empty((n_chunk, n_cols, m), dtype=dt)
        args = (indptr, indices, e, np.int64(n_rows), np.int64(m), np.int64(n_cols))
        args += (np.int64(nnz), np.int64(chunk), part)
        run(
            launch, "spmm", "spmm_t_chunk_kernel", kernels.template_args(dt, idt), n_chunk * m, args
        )
        args = (part, np.int64(n_chunk), np.int64(n_cols * m), out)
        run(launch, "spmm", "sum_leading_kernel", kernels.template_args(dt), n_cols * m, args)
        return out
    colptr, rows = _csc(indptr, indices, n_rows, n_cols)
    colptr, rows = colptr.astype(idt), rows.astype(idt)
    n_seg = -(-nnz // DW_SEGMENT)
    head = xp.empty((n_seg, m), dtype=dt)
    tail = xp.empty((n_seg, m), dtype=dt)
    seg = np.int64(DW_SEGMENT)
    args = (colptr, rows, e, np.int64(n_cols), np.int64(m), np.int64(nnz), seg, out, head, tail)
    run(launch, "spmm", "spmm_t_seg_kernel", kernels.template_args(dt, idt), n_seg * m, args)
    args = (colptr, np.int64(n_cols), np.int64(m), seg, head, tail, out)
    run(launch, "spmm", "spmm_t_seg_fix_kernel", kernels.template_args(dt, idt), n_cols * m, args)
    return out


def _csc(indptr: Array, indices: Array, n_rows: int, n_cols: int) -> tuple[Array, Array]:
    """The column lists of a 0/1 CSR pattern, rows ascending in each: one sort of unique keys
    ``column * R + row`` (int32 when they fit), on the device of the arrays.

    Shapes: indptr (R + 1,), indices (nnz,) -> colptr (n_cols + 1,), rows (nnz,).
    """
    xp = get_xp(indptr)
    kdt = np.dtype(np.int32 if (n_cols + 1) * max(n_rows, 1) < 2**31 else np.int64)
    r = kdt.type(max(n_rows, 1))
    rows = xp.searchsorted(indptr, xp.arange(indices.size, dtype=indptr.dtype), side="right")
    key = xp.sort(indices.astype(kdt) * r + (rows - 1).astype(kdt))
    colptr = xp.searchsorted(key, xp.arange(n_cols + 1, dtype=kdt) * r)
    return colptr, key % r
