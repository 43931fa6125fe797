"""Host code of the CUDA kernels: checks, scalar casts, grids and the glue between launches.

Every function here takes a :class:`Launcher` first and then the arguments of the NumPy twin
of the same name (:mod:`spikegrad.ops`), and uses the array module of its arguments. With CuPy
arrays and the RawModule launcher of :mod:`spikegrad.kernels.launch` it is the GPU backend;
with NumPy arrays and the g++ emulation of ``tests/kernels`` it runs the very same kernels and
glue on the CPU, which is how both are tested without a GPU. No math of its own beyond index
bookkeeping (prefix sums, sorts, searches).

CuPy does not check kernel arguments, so every array is checked here for dtype and
C-contiguity and every scalar is cast to the exact C type (sizes: int64 = ``long long``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..backend import Array, get_xp
from ..errors import ConfigError, DTypeError, ShapeError
from ..ops.surrogate import ActiveSet, index_dtype
from ..spikes import SpikeMatrix
from . import BLOCK, grid_cap, is_deterministic, template_args


class Launcher(Protocol):
    """Runs one kernel instance; arrays in ``args`` are passed as device pointers."""

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple[Any, ...]
    ) -> None: ...

    def ptr(self, a: Array) -> int:
        """The address of ``a``'s first element."""
        ...


def grid_size(n: int) -> int:
    """Blocks for n threads: ceil(n / BLOCK), capped at MAX_GRID (kernels loop grid-stride)."""
    return min(-(-n // BLOCK), grid_cap())


def _run(
    launch: Launcher, stem: str, kernel: str, targs: tuple[str, ...], n: int, args: tuple
) -> None:
    if n > 0:
        launch(stem, kernel, targs, grid_size(n), args)


def _float(name: str, a: Array, dtype: Any = None) -> np.dtype:
    """Check an array the kernel writes in place: float32/64 (= dtype if given), C-contiguous."""
    _dtype(name, a, dtype)
    if not a.flags.c_contiguous:
        raise ShapeError(f"{name} must be C-contiguous for the CUDA kernels (written in place)")
    return a.dtype


def _in(name: str, a: Array, dtype: Any = None) -> Array:
    """An array the kernel only reads: dtype checked, made C-contiguous (no copy if it is)."""
    _dtype(name, a, dtype)
    return get_xp(a).ascontiguousarray(a)


def _dtype(name: str, a: Array, dtype: Any) -> None:
    template_args(a.dtype)
    if dtype is not None and a.dtype != dtype:
        raise DTypeError(f"{name} must have dtype {np.dtype(dtype)}; got {a.dtype}")


def _indices(*arrays: Array) -> tuple[np.dtype, list[Array]]:
    """Cast index arrays to one kernel index type: int64 if any is int64, else int32."""
    for a in arrays:
        if a.dtype.kind not in "iu":
            raise DTypeError(f"index arrays must be integer; got {a.dtype}")
    # index_dtype(0) is int64 only when tests force the 64-bit path (surrogate.INT64_FROM = 0)
    wide = any(a.dtype.itemsize > 4 for a in arrays) or index_dtype(0) == np.int64
    idt = np.dtype(np.int64) if wide else np.dtype(np.int32)
    xp = get_xp(*arrays)
    return idt, [xp.ascontiguousarray(a.astype(idt, copy=False)) for a in arrays]


def _shape(name: str, a: Array, shape: tuple[int, ...]) -> None:
    if tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}; got {tuple(a.shape)}")


def _alpha(alpha: float | Array, like: Array, n: int) -> tuple[Array, np.int64]:
    """alpha as the kernels read it: a device vector in like's dtype, (n,) per neuron or (1,)
    for one float, and its length (a column c = b * N + j reads ``alpha[c % n_alpha]``).

    Shapes: alpha float or (n,) -> ((n,) or (1,), n_alpha).
    """
    xp = get_xp(like)
    if np.ndim(alpha) == 0:
        a = xp.full(1, like.dtype.type(alpha), dtype=like.dtype)
    else:
        a = xp.ascontiguousarray(xp.asarray(alpha, dtype=like.dtype))
        _shape("alpha", a, (n,))
    return a, np.int64(a.size)


def _columns(a: Array) -> tuple[np.int64, np.int64]:
    """(n_t, n_col) of a time-major array (T, ...)."""
    n_t = a.shape[0]
    return np.int64(n_t), np.int64(a.size // n_t if n_t else 0)


# ------------------------------------------------------------------------------ lif.cu
def lif_forward(launch: Launcher, h: Array, alpha: float | Array, theta: float) -> Array:
    """Scan the LIF membrane; **overwrites h with V**, returns spikes.

    Shapes: h (T, B, N) float; alpha float or (N,) -> s (T, B, N) bool.
    """
    dt = _float("h", h)
    n_t, n_col = _columns(h)
    s = get_xp(h).empty(h.shape, dtype=bool)
    a, n_a = _alpha(alpha, h, h.shape[-1])
    _run(
        launch,
        "lif",
        "lif_forward_kernel",
        template_args(dt),
        int(n_col),
        (h, s, n_t, n_col, a, n_a, dt.type(theta)),
    )
    return s


def lif_forward_sparse_spikes(
    launch: Launcher,
    indptr: Array,
    indices: Array,
    w: Array,
    alpha: float | Array,
    theta: float,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The sparse mode's fused forward: ``lif_forward_sparse(x @ w)`` without storing h.

    Each thread computes its column's current h[t, b, j] from the events of row (t, b) as it
    scans: a count pass, an exclusive prefix sum, an emit pass into per-column buckets, then
    keys and active entries sorted by flat index (so the backward's delta_scatter and
    gather_rowdot go row (t, b) by row). No (T, B, N) array is allocated; the two totals are
    read together: **the single host sync of the layer's forward**. Indices must lie in
    [0, N_in) (not checked).

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N) float; alpha float or (N,); tb = (T, B) -> keys (S,) sorted flat indices
    ``(t * B + b) * N + j``; ActiveSet idx (A,) sorted, int32 when T * B * N < 2**31 (as the
    twin's), else int64.
    """
    w = _in("w", w)
    dt = w.dtype
    T, B = (int(v) for v in tb)
    if w.ndim != 2:
        raise ShapeError(f"w must be (N_in, N); got shape {tuple(w.shape)}")
    N = w.shape[1]
    _shape("indptr", indptr, (T * B + 1,))
    out_idt = np.dtype(index_dtype(T * B * N))
    csr_idt, (indptr, indices) = _indices(indptr, indices)
    idt = max(out_idt, csr_idt, key=lambda d: d.itemsize)  # one kernel index type for both
    targs = template_args(dt, idt)
    f, n_col = dt.type, B * N
    a, n_a = _alpha(alpha, w, N)
    src = (indptr, indices, w, np.int64(T), np.int64(B), np.int64(N), a, n_a, f(theta))
    return _count_emit(
        launch,
        ("lif", "lif_spikes_count_kernel", "lif_spikes_emit_kernel"),
        targs,
        n_col,
        n_col,
        lambda n_spk, n_act: (*src, f(b_th), n_spk, n_act),
        lambda offs: (*src, f(beta_s), f(b_th), *offs),
        (w, idt, out_idt),
    )


def _count_emit(
    launch: Launcher,
    kernels: tuple[str, str, str],
    targs: tuple[str, ...],
    threads: int,
    n_bucket: int,
    count_args: Callable[[Array, Array], tuple],
    emit_args: Callable[[tuple[Array, ...]], tuple],
    types: tuple[Array, np.dtype, np.dtype],
) -> tuple[Array, ActiveSet]:
    """The two passes of a fused sparse forward: count per bucket, exclusive prefix sums, emit
    into the buckets, sort keys and active entries by flat index. One host sync (the totals).

    kernels = (stem, count kernel, emit kernel); count_args(n_spk, n_act) and
    emit_args((spk_off, act_off, keys, idx, sp)) give the kernels' argument tuples; types =
    (an array of the float dtype and device, kernel index dtype, output index dtype).
    Shapes: n_spk, n_act, offsets (n_bucket,) -> keys (S,), ActiveSet (A,).
    """
    stem, count, emit = kernels
    like, idt, out_idt = types
    dt, xp = like.dtype, get_xp(like)
    n_spk = xp.zeros(n_bucket, dtype=np.int32)
    n_act = xp.zeros(n_bucket, dtype=np.int32)
    _run(launch, stem, count, targs, threads, count_args(n_spk, n_act))
    spk_off = xp.cumsum(n_spk, dtype=idt)
    act_off = xp.cumsum(n_act, dtype=idt)
    totals = xp.stack([spk_off[-1], act_off[-1]]).tolist() if n_bucket else [0, 0]  # the sync
    n_s, n_a = (int(v) for v in totals)
    spk_off -= n_spk
    act_off -= n_act
    keys = xp.empty(n_s, dtype=idt)
    idx, sp = xp.empty(n_a, dtype=idt), xp.empty(n_a, dtype=dt)
    if n_s + n_a:
        _run(launch, stem, emit, targs, threads, emit_args((spk_off, act_off, keys, idx, sp)))
    keys.sort()
    order = xp.argsort(idx)
    return keys, ActiveSet(idx[order].astype(out_idt, copy=False), sp[order])


# --------------------------------------------------------------------- lif_backward.cu
def gather_rowdot(
    launch: Launcher, e: Array, rows: Array, w: Array, cols: Array, variant: int | None = None
) -> Array:
    """``out[n] = e[rows[n]] . w[cols[n]]`` (indices must be in range; not checked).

    Entries of one row of e should be adjacent (rows ascending, as an ActiveSet's flat
    indices give them): neighbouring threads then share that row's reads.
    variant 1: a thread per entry; 2: a warp per entry; None: 2 when M >= 32, else 1.
    Shapes: e (R, M), w (C, M), rows/cols (A,) -> (A,).
    """
    e = _in("e", e)
    dt = e.dtype
    w = _in("w", w, dt)
    if e.ndim != 2 or w.ndim != 2 or e.shape[1] != w.shape[1]:
        raise ShapeError(f"gather_rowdot: e (R, M) and w (C, M) needed; got {e.shape}, {w.shape}")
    _shape("cols", cols, rows.shape)
    idt, (rows, cols) = _indices(rows, cols)
    n = rows.size
    out = get_xp(e).empty(n, dtype=dt)
    m = e.shape[1]
    if variant is None:
        variant = 2 if m >= 32 else 1
    if variant not in (1, 2):
        raise ConfigError(f"gather_rowdot: variant must be 1 or 2; got {variant}")
    kernel = "gather_rowdot_warp_kernel" if variant == 2 else "gather_rowdot_kernel"
    threads = n * 32 if variant == 2 else n
    args = (e, rows, w, cols, np.int64(n), np.int64(m), out)
    _run(launch, "lif_backward", kernel, template_args(dt, idt), threads, args)
    return out


def lif_backward_dense(
    launch: Launcher,
    g: Array,
    sp: Array,
    x: Array,
    w: Array,
    alpha: float | Array,
    need_dx: bool,
) -> tuple[Array, Array | None]:
    """Dense BPTT through one layer: fused delta + reverse scan, then two cuBLAS products.

    Shapes: g, sp (T, B, N); x (T * B, N_in) float; w (N_in, N); alpha float or (N,).
    Returns dw (N_in, N) and dx (T, B, N_in) or None.
    """
    g = _in("g", g)
    dt = g.dtype
    sp = _in("sp", sp, dt)
    _shape("sp", sp, g.shape)
    T, B, N = g.shape
    _shape("w", w, (w.shape[0], N))
    _shape("x", x, (T * B, w.shape[0]))
    n_t, n_col = _columns(g)
    e1 = get_xp(g).empty_like(g)
    a, n_a = _alpha(alpha, g, N)
    _run(
        launch,
        "lif_backward",
        "dense_eps_kernel",
        template_args(dt),
        int(n_col),
        (g, sp, e1, n_t, n_col, a, n_a),
    )
    e1 = e1.reshape(T * B, N)
    dw = x.T @ e1
    dx = (e1 @ w.T).reshape(T, B, w.shape[0]) if need_dx else None
    return dw, dx


def lif_backward_sparse(
    launch: Launcher,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    w: Array,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array | None]:
    """Sparse spiking backward through one layer (ALGORITHM.md §5).

    delta is scattered from the active set into a zeroed (T, B, N) buffer that one reverse
    scan turns into e1[t] = eps[t+1]; dW = x^T e1 runs over the input's spike events and
    dL/dx is evaluated only at ``prev``'s active entries.

    Shapes: g (A,) = dL/dS on ``act``; x: input spikes (T * B, N_in); w (N_in, N); alpha float
    or (N,); shape = (T, B, N). Returns dw (N_in, N) and dx (A_prev,) aligned with prev.idx,
    or None.
    """
    T, B, N = shape
    g = _in("g", g)
    dt = g.dtype
    sp = _in("act.sp", act.sp, dt)
    w = _in("w", w, dt)
    _shape("g", g, act.idx.shape)
    _shape("act.sp", act.sp, act.idx.shape)
    n_in = w.shape[0]
    _shape("w", w, (n_in, N))
    if (x.T, x.B, x.N) != (T, B, n_in):
        raise ShapeError(
            f"x must be spikes of shape (T, B, N_in) = {(T, B, n_in)}; got {(x.T, x.B, x.N)}"
        )
    xp = get_xp(g)
    d = xp.zeros((T, B, N), dtype=dt)
    idt, (idx,) = _indices(act.idx)
    _run(
        launch,
        "lif_backward",
        "delta_scatter_kernel",
        template_args(dt, idt),
        idx.size,
        (g, sp, idx, np.int64(idx.size), d),
    )
    n_t, n_col = _columns(d)
    a, n_a = _alpha(alpha, d, N)
    _run(
        launch,
        "lif_backward",
        "eps_shift_scan_kernel",
        template_args(dt),
        int(n_col),
        (d, n_t, n_col, a, n_a),
    )
    e1 = d.reshape(T * B, N)
    dw = spike_tmatmul(launch, x.indptr, x.indices, e1, n_in)
    dx = None
    if prev is not None:
        dx = gather_rowdot(launch, e1, prev.idx // n_in, w, prev.idx % n_in)
    return dw, dx


# ----------------------------------------------------------------------------- rlif.cu
RLIF_SHARED = 2048  # = SG_RLIF_SHARED of rlif.cu: up to this N the per-sample rows sit in shared
#                     memory (tests set 0 to run the global-memory fallback)


def _rlif_checks(name: str, w: Array, r: Array) -> tuple[Array, Array]:
    """w (N_in, N) and r (N, N) of one dtype, made C-contiguous; the error names ``name``."""
    w = _in("w", w)
    r = _in("r", r, w.dtype)
    if w.ndim != 2:
        raise ShapeError(f"{name}: w must be (N_in, N); got shape {tuple(w.shape)}")
    N = w.shape[1]
    _shape("r", r, (N, N))
    return w, r


def rlif_forward_sparse_spikes(
    launch: Launcher,
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
    """The recurrent layer's fused sparse forward (rlif.cu): one block per sample, the input
    and recurrent currents summed inside the scan in the twin's order (bitwise equal).

    Count pass, prefix sums, emit pass into per-(sample, thread) buckets, then keys and
    active entries sorted (:func:`_count_emit`). Scratch: V and the spike list, (B, N) each;
    no (T, B, N) array. Indices must lie in [0, N_in) (not checked).

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N); r (N, N); alpha float or (N,); tb = (T, B) -> keys (S,) sorted flat indices
    ``(t * B + b) * N + j``; ActiveSet sorted, idx int32 when T * B * N < 2**31, else int64.
    """
    w, r = _rlif_checks("rlif_forward_sparse_spikes", w, r)
    dt, xp = w.dtype, get_xp(w)
    T, B = (int(v) for v in tb)
    N = w.shape[1]
    _shape("indptr", indptr, (T * B + 1,))
    out_idt = np.dtype(index_dtype(T * B * N))
    csr_idt, (indptr, indices) = _indices(indptr, indices)
    idt = max(out_idt, csr_idt, key=lambda d: d.itemsize)
    f = dt.type
    a, n_a = _alpha(alpha, w, N)
    src = (indptr, indices, w, r, a, n_a, np.int64(T), np.int64(B), np.int64(N), f(theta))
    scratch = (
        xp.empty((B, N), dtype=dt),
        xp.empty((B, N), dtype=np.int32),
        np.int32(N <= RLIF_SHARED),
    )
    return _count_emit(
        launch,
        ("rlif", "rlif_spikes_count_kernel", "rlif_spikes_emit_kernel"),
        template_args(dt, idt),
        B * BLOCK if N else 0,
        B * BLOCK,
        lambda n_spk, n_act: (*src, f(b_th), *scratch, n_spk, n_act),
        lambda offs: (*src, f(beta_s), f(b_th), *scratch, *offs),
        (w, idt, out_idt),
    )


def rlif_backward_sparse(
    launch: Launcher,
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
    """Sparse backward through one recurrent layer (ALGORITHM.md §4): rlif_backward_kernel
    walks each sample's time backwards (the recurrent dot products at the active entries only)
    into a transient e1 (T, B, N); then dW = x^T e1, dR = s^T e1 (spike_tmatmul) and dL/dx at
    ``prev``'s entries (gather_rowdot).

    Shapes: g (A,) = external dL/dS on ``act`` (idx sorted ascending, as the forward gives
    it); x: input spikes (T * B, N_in); s: the layer's own spikes (T * B, N); w (N_in, N);
    r (N, N); alpha float or (N,); shape = (T, B, N). Returns dw (N_in, N), dr (N, N) and dx
    (A_prev,) aligned with prev.idx, or None.
    """
    T, B, N = shape
    g = _in("g", g)
    dt = g.dtype
    sp = _in("act.sp", act.sp, dt)
    _shape("g", g, act.idx.shape)
    _shape("act.sp", act.sp, act.idx.shape)
    n_in = w.shape[0]
    w, r = _rlif_checks("rlif_backward_sparse", w, r)
    _dtype("w", w, dt)
    _shape("w", w, (n_in, N))
    for name, m, n in (("x", x, n_in), ("s", s, N)):
        if (m.T, m.B, m.N) != (T, B, n):
            raise ShapeError(f"{name} must be spikes of shape {(T, B, n)}; got {(m.T, m.B, m.N)}")
    xp = get_xp(g)
    idt, (idx,) = _indices(act.idx)
    bounds = xp.arange(T * B + 1, dtype=np.int64) * N  # row t * B + b starts at key row * N
    rowptr = xp.searchsorted(idx.astype(np.int64, copy=False), bounds).astype(idt)
    a, n_a = _alpha(alpha, g, N)
    d = xp.zeros((B, N), dtype=dt)
    e1 = xp.empty((T * B, N), dtype=dt)
    args = (g, sp, idx, rowptr, r, a, n_a, np.int64(T), np.int64(B), np.int64(N), d)
    args += (np.int32(N <= RLIF_SHARED), e1)
    _run(
        launch, "rlif", "rlif_backward_kernel", template_args(dt, idt), B * BLOCK if N else 0, args
    )
    dw = spike_tmatmul(launch, x.indptr, x.indices, e1, n_in)
    dr = spike_tmatmul(launch, s.indptr, s.indices, e1, N)
    dx = None
    if prev is not None:
        dx = gather_rowdot(launch, e1, prev.idx // n_in, w, prev.idx % n_in)
    return dw, dr, dx


# ----------------------------------------------------------------------------- spmm.cu
def spike_matmul(launch: Launcher, indptr: Array, indices: Array, w: Array) -> Array:
    """``X @ w`` for a 0/1 CSR matrix X (its stored values are taken as 1).

    Shapes: indptr (R + 1,), indices (nnz,) in [0, C); w (C, M) -> (R, M).
    """
    w = _in("w", w)
    dt = w.dtype
    idt, (indptr, indices) = _indices(indptr, indices)
    n_rows, m = indptr.size - 1, w.shape[1]
    out = get_xp(w).empty((n_rows, m), dtype=dt)
    _run(
        launch,
        "spmm",
        "spmm_csr_kernel",
        template_args(dt, idt),
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


def spike_tmatmul(launch: Launcher, indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """``X^T @ e`` for a 0/1 CSR matrix X of n_cols columns.

    Atomic mode: atomicAdd from every (row, j). Deterministic mode (no float atomics, bitwise
    reproducible on any grid): n_cols * M <= DW_NARROW takes the chunked scheme (partials per
    chunk of CSR events, summed in chunk order), larger outputs the segmented one (the events
    sorted by (column, row) on the device, fixed-length segments, cut columns fixed up in
    segment order); see spmm.cu. Both read each (event, j) term once, as the atomic kernel
    adds it once. Shapes: indptr (R + 1,), indices (nnz,); e (R, M) -> (n_cols, M).
    """
    e = _in("e", e)
    dt = e.dtype
    xp = get_xp(e)
    idt, (indptr, indices) = _indices(indptr, indices)
    n_rows, m = indptr.size - 1, e.shape[1]
    _shape("e", e, (n_rows, m))
    nnz = indices.size
    if not is_deterministic():
        out = xp.zeros((n_cols, m), dtype=dt)
        _run(
            launch,
            "spmm",
            "spmm_csr_t_atomic_kernel",
            template_args(dt, idt),
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
        _run(launch, "spmm", "spmm_t_chunk_kernel", template_args(dt, idt), n_chunk * m, args)
        args = (part, np.int64(n_chunk), np.int64(n_cols * m), out)
        _run(launch, "spmm", "sum_leading_kernel", template_args(dt), n_cols * m, args)
        return out
    colptr, rows = _csc(indptr, indices, n_rows, n_cols)
    colptr, rows = colptr.astype(idt), rows.astype(idt)
    n_seg = -(-nnz // DW_SEGMENT)
    head = xp.empty((n_seg, m), dtype=dt)
    tail = xp.empty((n_seg, m), dtype=dt)
    seg = np.int64(DW_SEGMENT)
    args = (colptr, rows, e, np.int64(n_cols), np.int64(m), np.int64(nnz), seg, out, head, tail)
    _run(launch, "spmm", "spmm_t_seg_kernel", template_args(dt, idt), n_seg * m, args)
    args = (colptr, np.int64(n_cols), np.int64(m), seg, head, tail, out)
    _run(launch, "spmm", "spmm_t_seg_fix_kernel", template_args(dt, idt), n_cols * m, args)
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


# -------------------------------------------------------------------------- readout.cu
SCAN_FILL_COLUMNS = 1 << 16  # columns that fill the device alone: one thread per column
SCAN_MIN_CHUNK = 16  # steps per chunk of the chunked scans, at least


def scan_chunk(n_t: int, n_col: int) -> int:
    """Steps per chunk of the chunked leaky scans, or 0 for the one-thread-per-column scheme.

    Chunks are cut when the columns alone leave the device idle (n_col < SCAN_FILL_COLUMNS):
    enough chunks to bring the threads to about SCAN_FILL_COLUMNS, none shorter than
    SCAN_MIN_CHUNK steps.
    """
    if n_col == 0 or n_col >= SCAN_FILL_COLUMNS:
        return 0
    n_chunk = min(n_t // SCAN_MIN_CHUNK, -(-SCAN_FILL_COLUMNS // n_col))
    return -(-n_t // n_chunk) if n_chunk >= 2 else 0


def _scan_power(dt: np.dtype, alpha: float, steps: int) -> np.generic:
    """alpha^steps of the dtype-rounded alpha, rounded once to the dtype."""
    return dt.type(float(dt.type(alpha)) ** steps)


def leaky_scan(launch: Launcher, x: Array, alpha: float, gain: float) -> Array:
    """``y[0] = 0, y[t+1] = alpha y[t] + gain x[t]``. Shapes: x (T, ...) -> y (T, ...).

    Few columns and many steps (:func:`scan_chunk`): the chunked scan of readout.cu. Its first
    chunk is bitwise the twin; a later output y[t] starts its chunk from a reassociated state,
    so to first order in the unit roundoff u (2**-24 float32, 2**-53 float64)
    ``|y[t] - y_twin[t]| <= (4 t + 6) u sum_{s<t} |alpha|^(t-1-s) |gain x[s]|``.
    """
    x = _in("x", x)
    dt = x.dtype
    xp = get_xp(x)
    n_t, n_col = _columns(x)
    y = xp.empty_like(x)
    a, g = dt.type(alpha), dt.type(gain)
    steps = scan_chunk(int(n_t), int(n_col))
    if not steps:
        args = (x, y, n_t, n_col, a, g)
        _run(launch, "readout", "leaky_scan_kernel", template_args(dt), int(n_col), args)
        return y
    n_chunk = -(-int(n_t) // steps)
    r = xp.empty((n_chunk - 1, int(n_col)), dtype=dt)
    ln, n_red = np.int64(steps), np.int64(n_chunk - 1)
    targs = template_args(dt)
    _run(
        launch, "readout", "leaky_scan_reduce_kernel", targs, r.size, (x, n_col, ln, n_red, a, g, r)
    )
    args = (r, n_red, n_col, _scan_power(dt, alpha, steps))
    _run(launch, "readout", "leaky_scan_carry_kernel", targs, int(n_col), args)
    args = (x, r, y, n_t, n_col, ln, a, g)
    _run(launch, "readout", "leaky_scan_chunk_kernel", targs, n_chunk * int(n_col), args)
    return y


def leaky_scan_reverse(launch: Launcher, e: Array, alpha: float | Array) -> Array:
    """In place: ``e[t] += alpha * e[t+1]`` from the end backwards. Shapes: e (T', ...); alpha
    float or (N,) broadcast along e's last axis.

    The twin's denormal policy (:func:`spikegrad.ops.lif.leaky_scan_reverse`). A per-neuron
    alpha takes the column scheme (bitwise the twin). One float, few columns and many steps
    (:func:`scan_chunk`): the chunked scan of readout.cu, chunks counted from the
    end; its first chunk (the last rows) is bitwise the twin, and to first order in u
    ``|e[t] - e_twin[t]| <= (4 (T'-t) + 6) u sum_{s>=t} |alpha|^(s-t) |e_in[s]|
    + 2 tiny / (1 - |alpha|)`` (the last term: flushes taken on one side only).
    """
    dt = _float("e", e)
    xp = get_xp(e)
    n_t, n_col = _columns(e)
    steps = scan_chunk(int(n_t), int(n_col)) if np.ndim(alpha) == 0 else 0
    targs = template_args(dt)
    if not steps:
        av, n_a = _alpha(alpha, e, e.shape[-1])
        args = (e, n_t, n_col, av, n_a)
        _run(launch, "readout", "leaky_scan_reverse_kernel", targs, int(n_col), args)
        return e
    a = dt.type(alpha)
    n_chunk = -(-int(n_t) // steps)
    r = xp.empty((n_chunk - 1, int(n_col)), dtype=dt)
    ln, n_red = np.int64(steps), np.int64(n_chunk - 1)
    args = (e, n_t, n_col, ln, n_red, a, r)
    _run(launch, "readout", "leaky_scan_reverse_reduce_kernel", targs, r.size, args)
    args = (r, n_red, n_col, _scan_power(dt, alpha, steps))
    _run(launch, "readout", "leaky_scan_carry_kernel", targs, int(n_col), args)
    args = (e, r, n_t, n_col, ln, a)
    _run(launch, "readout", "leaky_scan_reverse_chunk_kernel", targs, n_chunk * int(n_col), args)
    return e


# ----------------------------------------------------------------------------- adam.cu
def _adam_scalars(
    dt: np.dtype, step: int, lr: float, b1: float, b2: float, eps: float, wd: float
) -> tuple:
    f = dt.type
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    return f(lr), f(b1), f(1 - b1), f(b2), f(1 - b2), f(bc1), f(bc2), f(eps), f(1 - lr * wd)


def adam_update_multi(
    launch: Launcher,
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
    """**Updates every p, m, v in place**, all tensors in one launch (one dtype); ``wd`` is the
    decoupled weight decay.

    Shapes: four equal-length lists; gs[k], ms[k], vs[k] shaped like ps[k].
    """
    if not (len(ps) == len(gs) == len(ms) == len(vs)) or not ps:
        raise ShapeError("adam_update_multi: ps, gs, ms, vs must be non-empty and equally long")
    dt = _float("ps[0]", ps[0])
    gs = [_in(f"gs[{k}]", g, dt) for k, g in enumerate(gs)]  # kept alive until the launch
    table = []
    for k, quad in enumerate(zip(ps, gs, ms, vs, strict=True)):
        for name, a in zip("pgmv", quad, strict=True):
            _float(f"{name}s[{k}]", a, dt)
            _shape(f"{name}s[{k}]", a, quad[0].shape)
            table.append(launch.ptr(a))
    xp = get_xp(*ps)
    offs = np.concatenate([[0], np.cumsum([p.size for p in ps])]).astype(np.int64)
    ptrs = xp.asarray(np.array(table, dtype=np.uint64))
    _run(
        launch,
        "adam",
        "adam_update_multi_kernel",
        template_args(dt),
        int(offs[-1]),
        (ptrs, xp.asarray(offs), np.int64(len(ps)), *_adam_scalars(dt, step, lr, b1, b2, eps, wd)),
    )


# ------------------------------------------------------------------------ the op table
# op name -> host function: the kernel ops, each with its NumPy twin's signature after the
# launcher. kernels/launch.py registers them for "cupy"; tests bind them to the CPU emulation.
OPS: dict[str, Callable[..., Any]] = {
    "lif_forward": lif_forward,
    "lif_forward_sparse_spikes": lif_forward_sparse_spikes,
    "gather_rowdot": gather_rowdot,
    "lif_backward_dense": lif_backward_dense,
    "lif_backward_sparse": lif_backward_sparse,
    "rlif_forward_sparse_spikes": rlif_forward_sparse_spikes,
    "rlif_backward_sparse": rlif_backward_sparse,
    "spike_matmul": spike_matmul,
    "spike_tmatmul": spike_tmatmul,
    "leaky_scan": leaky_scan,
    "leaky_scan_reverse": leaky_scan_reverse,
    "adam_update_multi": adam_update_multi,
}
