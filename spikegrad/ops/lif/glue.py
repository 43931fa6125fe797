"""The LIF family's kernels behind its twins' signatures: the native C wrappers (``cpu.h``,
``cpu_result.h``) and the CUDA host code (``lif.cu``, ``lif_backward.cu``).

Each wrapper takes and returns exactly what its twin does (same shapes, dtypes and in-place
behaviour), runs the twin's ``check_*`` first, and (native) hands arrays of a dtype the kernels
lack to the twin. The fused forward and backward serve the recurrent layer too (r not None;
:mod:`spikegrad.ops.rlif.glue`).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ... import kernels, native
from ...backend import Array, get_xp, implementation
from ...errors import ConfigError
from ...kernels.host import (
    Launcher,
    columns,
    cuda_op,
    in_array,
    index_arrays,
    out_array,
    run,
)
from ...spikes import SpikeMatrix
from ..common import (
    NEURON_PIECES,
    check_alpha,
    contiguous,
    in_place,
    last_axis,
    native_op,
    ptr,
    rows,
)
from ..half import compute_dtype, weights_read, widen
from ..half.glue import weights_in
from ..kind_twin import signed
from ..spmm.glue import cuda_spike_tmatmul
from ..surrogate import ActiveSet, index_dtype
from . import twin
from .twin import check_gather_rowdot, check_lif_forward, check_spike_backward, check_spike_forward

native.c_family(
    __file__,
    once=("cpu_result.h",),
    typed=("cpu.h",),
    per_kind=("cpu_kind.h",),
    typed_weights=("cpu_weights.h",),
    per_kind_weights=("cpu_kind_weights.h",),
    reads_weights=("gather_rowdot", "spike_forward", "spike_backward"),
    functions={
        "sg_forward_chunks": ("i64", "i64"),
        "sg_backward_chunks": ("i64", "i64"),
        "sg_forward_take": ("int", "p p p int p"),
    },
    typed_functions={"gather_rowdot": ("void", "p i64 p p p i64 p")},
    kind_functions={  # <kind>_forward, ...: the drivers of cpu_kind.h
        # the kind's constants: cons n_args n_c (kind_constants)
        "forward": ("void", "p p i64 i64 p i64 i64"),
        # returns an sg_forward result, NULL: out of memory
        "spike_forward": ("p", "p p p p i64 i64 i64 p i64 i64 F F i64 p"),
        # g sp idx n_act | x CSR w r s CSR | n_in n prev n_prev nt nb cons n_args n_c | dw dr
        # dx part | block width; returns 0, or -1: out of memory
        "spike_backward": (
            "int",
            "p p p i64 p p p p p p i64 i64 p i64 i64 i64 p i64 i64 p p p p i64",
        ),
    },
)
kernels.add_module(
    "lif",
    __file__,
    {
        "lif_forward_kernel": ("K", "T"),
        "lif_spikes_count_kernel": ("K", "T", "W", "I"),
        "lif_spikes_emit_kernel": ("K", "T", "W", "I"),
    },
    include=(NEURON_PIECES,),
)
kernels.add_module(
    "lif_backward",
    __file__,
    {
        "delta_scatter_kernel": ("T", "I"),
        "pair_scatter_kernel": ("T", "I"),
        "eps_shift_scan_kernel": ("K", "T"),
        "dense_eps_kernel": ("K", "T"),
        "gather_rowdot_kernel": ("T", "W", "I"),
        "gather_rowdot_warp_kernel": ("T", "W", "I"),
    },
    cooperative=("gather_rowdot_warp_kernel",),
    include=(NEURON_PIECES,),
)


# ---------------------------------------------------------------------------- native C
def kind_constants(names: tuple[str, ...], values: tuple, like: Array, n: int) -> Array:
    """A kind's constants as the C and CUDA drivers read them: (len(values), n_c) contiguous in
    like's array module and dtype (float32 for a 16-bit weight copy), row q the q-th value (one
    float, or (n,) one per neuron) broadcast to n_c = n when any value is per neuron, else 1.
    ShapeError naming a constant of a wrong shape."""
    for name, v in zip(names, values, strict=False):
        check_alpha(v, n, name)
    xp = get_xp(like)
    vecs = [xp.asarray(v, dtype=compute_dtype(like)).reshape(-1) for v in values]
    n_c = max((v.size for v in vecs), default=1)
    return xp.ascontiguousarray(xp.stack([xp.broadcast_to(v, (n_c,)) for v in vecs]))


def scan(kind: ModuleType, h: Array, values: tuple) -> Array:
    """The native neuron scan of ``kind`` (cpu_kind.h: forward): overwrites h with the kind's
    record, returns the spikes."""
    check_lif_forward(h, values[0])
    k = kind_constants(kind.FORWARD_ARGS, values, h, last_axis(h))
    s = np.empty(h.shape, dtype=bool)
    fn = native.function(f"{kind.NAME}_forward", h.dtype)
    fn(ptr(h), ptr(s), *rows(h), ptr(k), *k.shape)
    return s


def block_width(n: int, k: int, itemsize: int, B: int, chunks: str, dt: np.dtype) -> int:
    """The neuron block width of a fused kernel (:mod:`spikegrad.native.blocks`): a column
    holds k entries of W (forward) or of dW (backward) of ``itemsize`` bytes and two state
    values of ``dt`` per sample of a chunk (``chunks``: the C function that counts them)."""
    per_chunk = -(-B // int(native.function(chunks)(B)))
    dt = np.dtype(dt)
    return native.blocks.width(n, k * itemsize + 2 * per_chunk * dt.itemsize, 64 // dt.itemsize)


def spike_forward(
    kind: ModuleType,
    name: str,
    indptr: Array,
    indices: Array,
    w: Array,
    r: Array | None,
    values: tuple,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The fused native forward of a feed-forward (r None) or recurrent layer of ``kind``;
    values: its FORWARD_ARGS."""
    check_spike_forward(indptr, indices, w, r, values[0], tb)
    T, B = (int(v) for v in tb)
    w = contiguous(w)
    n = w.shape[1]
    r = None if r is None else contiguous(r)
    ip, ind = contiguous(indptr, np.int64), contiguous(indices, np.int32)
    k = kind_constants(kind.FORWARD_ARGS, values, w, n)
    ft, counts = k.dtype.type, np.zeros(2, dtype=np.int64)
    res = native.function(f"{kind.NAME}_spike_forward", k.dtype, w.dtype)(
        ptr(ip), ptr(ind), ptr(w), ptr(r), T, B, n, ptr(k), *k.shape, ft(beta_s), ft(b_th),
        block_width(n, w.shape[0], w.itemsize, B, "sg_forward_chunks", k.dtype), ptr(counts),
    )  # fmt: skip
    if not res:
        raise MemoryError(f"{name}: out of memory for the spike and active lists")
    keys = np.empty(int(counts[0]), dtype=np.int64)
    idx = np.empty(int(counts[1]), dtype=index_dtype(T * B * n))
    sp = np.empty(int(counts[1]), dtype=k.dtype)
    take = native.function("sg_forward_take")
    if take(res, ptr(keys), ptr(idx), idx.itemsize == 8, ptr(sp)):
        raise MemoryError(f"{name}: out of memory laying out its result")
    return keys, ActiveSet(idx, sp)


_workspace = threading.local()


def _scratch(n: int, dtype: np.dtype) -> np.ndarray:
    """A buffer of ``n`` elements of ``dtype``, kept per thread and reused between calls."""
    dtype = np.dtype(dtype)
    buf = getattr(_workspace, "buf", None)
    if buf is None or buf.nbytes < n * dtype.itemsize:
        buf = _workspace.buf = np.empty(n * dtype.itemsize, dtype=np.uint8)
    return buf[: n * dtype.itemsize].view(dtype)


def spike_backward(
    kind: ModuleType,
    name: str,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix | None,
    w: Array,
    r: Array | None,
    values: tuple,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The fused native backward of a feed-forward (r, s None) or recurrent layer of ``kind``
    (values: its ADJOINT_ARGS): dw, dr (None when feed-forward) and dx."""
    check_spike_backward(g, act, x, s, w, r, values[0], prev, shape)
    T, B, N = (int(v) for v in shape)
    w = contiguous(w)
    n_in = w.shape[0]
    idx = contiguous(act.idx, np.int64)
    pidx = None if prev is None else contiguous(prev.idx, np.int64)
    ip, ind = contiguous(x.indptr, np.int64), contiguous(x.indices, np.int32)
    sip, sind = (
        (None, None)
        if s is None
        else (contiguous(s.indptr, np.int64), contiguous(s.indices, np.int32))
    )
    g, sp, k = contiguous(g), contiguous(act.sp), kind_constants(kind.ADJOINT_ARGS, values, w, N)
    r, dt = (None if r is None else contiguous(r)), g.dtype
    dw = np.empty((n_in, N), dtype=dt)
    dr = None if r is None else np.empty((N, N), dtype=dt)
    dx = None if pidx is None else np.empty(pidx.size, dtype=dt)
    chunks = int(native.function("sg_backward_chunks")(B))
    part = _scratch((chunks - 1) * (n_in * N + (0 if r is None else N * N)), dt)
    status = native.function(f"{kind.NAME}_spike_backward", dt, w.dtype)(
        ptr(g), ptr(sp), ptr(idx), idx.size, ptr(ip), ptr(ind), ptr(w), ptr(r),
        ptr(sip), ptr(sind), n_in, N, ptr(pidx), 0 if pidx is None else pidx.size, T, B,
        ptr(k), *k.shape, ptr(dw), ptr(dr), ptr(dx), ptr(part),
        block_width(N, n_in, dt.itemsize, B, "sg_backward_chunks", dt),
    )  # fmt: skip
    if status != 0:
        raise MemoryError(f"{name}: out of memory for its per-chunk state")
    return dw, dr, dx


def register_native(kind: ModuleType) -> None:
    """Register the native kernels of ``kind`` (the drivers of cpu_kind.h instantiated with its
    pieces, native/build.py: KINDS) under its op names (``kind.OPS``), with the twins' signatures:
    the feed-forward scan, and the fused sparse forward and backward of both layer forms. A call
    the kernels cannot take (dtype, layout) goes to the op's registered NumPy twin (LIF's own
    twins, or the kind twin drivers of a kind without twins of its own)."""
    nf, na = len(kind.FORWARD_ARGS), len(kind.ADJOINT_ARGS)

    def sign(recurrent: bool, field: str, first: tuple[str, ...] = ()) -> Callable:
        return lambda fn: signed(fn, kind, recurrent, field, first)

    ff, rc = kind.OPS[False], kind.OPS[True]

    @native_op(ff.forward, implementation(ff.forward, "numpy"), lambda h, *_: in_place(h))
    @sign(False, "forward")
    def forward(h: Array, *a: Any) -> Array:
        return scan(kind, h, a)

    @native_op(
        ff.forward_sparse_spikes,
        implementation(ff.forward_sparse_spikes, "numpy"),
        lambda p, i, w, *_: weights_read(w),
    )
    @sign(False, "forward_sparse_spikes")
    def sparse_spikes(indptr: Array, indices: Array, w: Array, *a: Any):
        return spike_forward(
            kind, ff.forward_sparse_spikes, indptr, indices, w, None, a[:nf], *a[nf:]
        )

    @native_op(
        rc.forward_sparse_spikes,
        implementation(rc.forward_sparse_spikes, "numpy"),
        lambda p, i, w, r, *_: weights_read(w) and r.dtype == w.dtype,
    )
    @sign(True, "forward_sparse_spikes")
    def rsparse_spikes(indptr: Array, indices: Array, w: Array, r: Array, *a: Any):
        return spike_forward(kind, rc.forward_sparse_spikes, indptr, indices, w, r, a[:nf], *a[nf:])

    @native_op(
        ff.backward_sparse,
        implementation(ff.backward_sparse, "numpy"),
        lambda g, act, x, w, *_: weights_read(w, g, act.sp),
    )
    @sign(False, "backward_sparse")
    def bsparse(g: Array, act: ActiveSet, x: SpikeMatrix, w: Array, *a: Any):
        dw, _, dx = spike_backward(
            kind, ff.backward_sparse, g, act, x, None, w, None, a[:na], *a[na:]
        )
        return dw, dx

    @native_op(
        rc.backward_sparse,
        implementation(rc.backward_sparse, "numpy"),
        lambda g, act, x, s, w, r, *_: weights_read(w, g, act.sp) and r.dtype == w.dtype,
    )
    @sign(True, "backward_sparse")
    def rbsparse(g: Array, act: ActiveSet, x: SpikeMatrix, s: SpikeMatrix, w: Array, r, *a: Any):
        return spike_backward(kind, rc.backward_sparse, g, act, x, s, w, r, a[:na], *a[na:])


@native_op(
    "gather_rowdot",
    twin.gather_rowdot,
    lambda e, rows, w, cols, *_: weights_read(w, e),
)
def gather_rowdot(e: Array, rows: Array, w: Array, cols: Array) -> Array:
    """See :func:`spikegrad.ops.lif.gather_rowdot`."""
    check_gather_rowdot(e, rows, w, cols)
    e, w = contiguous(e), contiguous(w)
    r, c = contiguous(rows, np.int64), contiguous(cols, np.int32)
    out = np.empty(r.shape[0], dtype=e.dtype)
    native.function("gather_rowdot", e.dtype, w.dtype)(
        ptr(e), e.shape[1], ptr(r), ptr(w), ptr(c), r.size, ptr(out)
    )
    return out


# ------------------------------------------------------------------------- CUDA host
def _kargs(k: Array) -> tuple:
    """The constants' arguments of a kernel: cons, n_args, n_c."""
    return k, np.int64(k.shape[0]), np.int64(k.shape[1])


def cuda_scan(launch: Launcher, kind: ModuleType, h: Array, values: tuple) -> Array:
    """Scan the neurons of ``kind`` (values: its FORWARD_ARGS); **overwrites h with the kind's
    record** (LIF, CuBa: V; ALIF: V - A), returns spikes.

    Shapes: h (T, B, N) float; each constant a float or (N,) -> s (T, B, N) bool.
    """
    check_lif_forward(h, values[0])
    dt = out_array("h", h)
    n_t, n_col = columns(h)
    s = get_xp(h).empty(h.shape, dtype=bool)
    k = kind_constants(kind.FORWARD_ARGS, values, h, h.shape[-1])
    targs = kernels.template_args(dt, kind=kind.NAME)
    run(launch, "lif", "lif_forward_kernel", targs, int(n_col), (h, s, n_t, n_col, *_kargs(k)))
    return s


def cuda_spike_forward(
    launch: Launcher,
    kind: ModuleType,
    indptr: Array,
    indices: Array,
    w: Array,
    values: tuple,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The sparse mode's fused forward of a feed-forward layer of ``kind`` (values: its
    FORWARD_ARGS): the kind's scan of ``x @ w`` without storing h.

    Each thread computes its column's current h[t, b, j] from the events of row (t, b) as it
    scans: a count pass, an exclusive prefix sum, an emit pass into per-column buckets, then
    keys and active entries sorted by flat index (so the backward's delta_scatter and
    gather_rowdot go row (t, b) by row). No (T, B, N) array is allocated; the two totals are
    read together (one host sync, beside the checks' reads of the input pattern).

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N) float; each constant a float or (N,); tb = (T, B) -> keys (S,) sorted flat
    indices ``(t * B + b) * N + j``; ActiveSet idx (A,) sorted, int32 when T * B * N < 2**31
    (as the twin's), else int64.
    """
    check_spike_forward(indptr, indices, w, None, values[0], tb)
    w = weights_in("w", w)
    dt = compute_dtype(w)
    T, B = (int(v) for v in tb)
    N = w.shape[1]
    out_idt = np.dtype(index_dtype(T * B * N))
    idt, (indptr, indices) = index_arrays(indptr, indices, least=out_idt)
    targs = kernels.template_args(dt, idt, kind=kind.NAME, weights=w.dtype)
    f, n_col = dt.type, B * N
    k = kind_constants(kind.FORWARD_ARGS, values, w, N)
    src = (indptr, indices, w, np.int64(T), np.int64(B), np.int64(N), *_kargs(k))
    return count_emit(
        launch,
        ("lif", "lif_spikes_count_kernel", "lif_spikes_emit_kernel"),
        targs,
        n_col,
        n_col,
        lambda n_spk, n_act: (*src, f(b_th), n_spk, n_act),
        lambda offs: (*src, f(beta_s), f(b_th), *offs),
        (k, idt, out_idt),
    )


def count_emit(
    launch: Launcher,
    stems: tuple[str, str, str],
    targs: tuple[str, ...],
    threads: int,
    n_bucket: int,
    count_args: Callable[[Array, Array], tuple],
    emit_args: Callable[[tuple[Array, ...]], tuple],
    types: tuple[Array, np.dtype, np.dtype],
) -> tuple[Array, ActiveSet]:
    """The two passes of a fused sparse forward: count per bucket, exclusive prefix sums, emit
    into the buckets, sort keys and active entries by flat index. One host sync (the totals).

    stems = (stem, count kernel, emit kernel); count_args(n_spk, n_act) and
    emit_args((spk_off, act_off, keys, idx, sp)) give the kernels' argument tuples; types =
    (an array of the float dtype and device, kernel index dtype, output index dtype).
    Shapes: n_spk, n_act, offsets (n_bucket,) -> keys (S,), ActiveSet (A,).
    """
    stem, count, emit = stems
    like, idt, out_idt = types
    dt, xp = like.dtype, get_xp(like)
    n_spk = xp.zeros(n_bucket, dtype=np.int32)
    n_act = xp.zeros(n_bucket, dtype=np.int32)
    run(launch, stem, count, targs, threads, count_args(n_spk, n_act))
    spk_off = xp.cumsum(n_spk, dtype=idt)
    act_off = xp.cumsum(n_act, dtype=idt)
    totals = xp.stack([spk_off[-1], act_off[-1]]).tolist() if n_bucket else [0, 0]  # the sync
    n_s, n_a = (int(v) for v in totals)
    spk_off -= n_spk
    act_off -= n_act
    keys = xp.empty(n_s, dtype=idt)
    idx, sp = xp.empty(n_a, dtype=idt), xp.empty(n_a, dtype=dt)
    if n_s + n_a:
        run(launch, stem, emit, targs, threads, emit_args((spk_off, act_off, keys, idx, sp)))
    keys.sort()
    order = xp.argsort(idx)
    return keys, ActiveSet(idx[order].astype(out_idt, copy=False), sp[order])


@cuda_op("gather_rowdot")
def cuda_gather_rowdot(
    launch: Launcher, e: Array, rows: Array, w: Array, cols: Array, variant: int | None = None
) -> Array:
    """``out[n] = e[rows[n]] . w[cols[n]]``.

    Entries of one row of e should be adjacent (rows ascending, as an ActiveSet's flat
    indices give them): neighbouring threads then share that row's reads.
    variant 1: a thread per entry; 2: a warp per entry; None: 2 when M >= 32, else 1.
    Shapes: e (R, M), w (C, M), rows/cols (A,) -> (A,).
    """
    check_gather_rowdot(e, rows, w, cols)
    e = in_array("e", e)
    dt = e.dtype
    w = weights_in("w", w, dt)
    idt, (rows, cols) = index_arrays(rows, cols, least=index_dtype(0))
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
    targs = kernels.template_args(dt, idt, weights=w.dtype)
    run(launch, "lif_backward", kernel, targs, threads, args)
    return out


def cuda_backward_dense(
    launch: Launcher,
    kind: ModuleType,
    g: Array,
    sp: Array,
    x: Array,
    w: Array,
    values: tuple,
    need_dx: bool,
) -> tuple[Array, Array | None]:
    """Dense BPTT through one feed-forward layer of ``kind`` (values: its ADJOINT_ARGS): fused
    delta + reverse scan of the kind's adjoint, then two cuBLAS products.

    Shapes: g, sp (T, B, N); x (T * B, N_in) float; w (N_in, N); each constant a float or
    (N,). Returns dw (N_in, N) and dx (T, B, N_in) or None.
    """
    twin.check_lif_backward_dense(g, sp, x, w, values[0])
    g = in_array("g", g)
    dt = g.dtype
    sp = in_array("sp", sp, dt)
    T, B, N = g.shape
    n_t, n_col = columns(g)
    e1 = get_xp(g).empty_like(g)
    k = kind_constants(kind.ADJOINT_ARGS, values, g, N)
    args = (g, sp, e1, n_t, n_col, *_kargs(k))
    targs = kernels.template_args(dt, kind=kind.NAME)
    run(launch, "lif_backward", "dense_eps_kernel", targs, int(n_col), args)
    e1 = e1.reshape(T * B, N)
    dw = x.T @ e1
    dx = (e1 @ widen(w).T).reshape(T, B, w.shape[0]) if need_dx else None
    return dw, dx


def cuda_backward_sparse(
    launch: Launcher,
    kind: ModuleType,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    w: Array,
    values: tuple,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array | None]:
    """Sparse spiking backward through one feed-forward layer of ``kind`` (ALGORITHM.md §5, §8;
    values: its ADJOINT_ARGS).

    delta is scattered from the active set into a zeroed (T, B, N) buffer (a kind whose delta
    reads its adjoint, ALIF: g and sigma' into two) that one reverse scan of the kind's adjoint
    turns into e1[t] = dL/dh[t]; dW = x^T e1 runs over the input's spike events and dL/dx is
    evaluated only at ``prev``'s active entries.

    Shapes: g (A,) = dL/dS on ``act``; x: input spikes (T * B, N_in); w (N_in, N); each
    constant a float or (N,); shape = (T, B, N). Returns dw (N_in, N) and dx (A_prev,) aligned
    with prev.idx, or None.
    """
    check_spike_backward(g, act, x, None, w, None, values[0], prev, shape)
    T, B, N = shape
    g = in_array("g", g)
    dt = g.dtype
    sp = in_array("act.sp", act.sp, dt)
    w = weights_in("w", w, dt)
    n_in = w.shape[0]
    xp = get_xp(g)
    d = xp.zeros((T, B, N), dtype=dt)
    dsp = None if kind_local_delta(kind) else xp.zeros((T, B, N), dtype=dt)
    idt, (idx,) = index_arrays(act.idx, least=index_dtype(0))
    targs = kernels.template_args(dt, idt)
    if dsp is None:
        args = (g, sp, idx, np.int64(idx.size), d)
        run(launch, "lif_backward", "delta_scatter_kernel", targs, idx.size, args)
    else:
        args = (g, sp, idx, np.int64(idx.size), d, dsp)
        run(launch, "lif_backward", "pair_scatter_kernel", targs, idx.size, args)
    n_t, n_col = columns(d)
    k = kind_constants(kind.ADJOINT_ARGS, values, d, N)
    args = (d, d if dsp is None else dsp, np.int32(dsp is not None), n_t, n_col, *_kargs(k))
    targs = kernels.template_args(dt, kind=kind.NAME)
    run(launch, "lif_backward", "eps_shift_scan_kernel", targs, int(n_col), args)
    e1 = d.reshape(T * B, N)
    dw = cuda_spike_tmatmul(launch, x.indptr, x.indices, e1, n_in)
    dx = None
    if prev is not None:
        dx = cuda_gather_rowdot(launch, e1, prev.idx // n_in, w, prev.idx % n_in)
    return dw, dx


@functools.cache
def _local_delta(name: str) -> bool:
    text = (NEURON_PIECES / f"{name}.h").read_text(encoding="utf-8")
    return re.search(r"^#define SG_KIND_LOCAL_DELTA 1\b", text, re.MULTILINE) is not None


def kind_local_delta(kind: ModuleType) -> bool:
    """Whether the kind's delta reads no adjoint variable (SG_KIND_LOCAL_DELTA of its header
    spikegrad/neurons/<kind>.h): then the sparse backward scatters delta itself."""
    return _local_delta(kind.NAME)


def register_cuda(kind: ModuleType) -> None:
    """Register the CUDA ops of a feed-forward layer of ``kind`` under its op names (the
    twins' signatures after the launcher): the scan, the fused sparse forward, the dense and
    the sparse backward. (The recurrent ones: :func:`spikegrad.ops.rlif.glue.register_cuda`.)"""
    nf, na = len(kind.FORWARD_ARGS), len(kind.ADJOINT_ARGS)

    def sign(recurrent: bool, field: str, first: tuple[str, ...] = ()) -> Callable:
        return lambda fn: signed(fn, kind, recurrent, field, first)

    ff = kind.OPS[False]

    @cuda_op(ff.forward)
    @sign(False, "forward", first=("launch",))
    def forward(launch: Launcher, h: Array, *a: Any) -> Array:
        return cuda_scan(launch, kind, h, a)

    @cuda_op(ff.forward_sparse_spikes)
    @sign(False, "forward_sparse_spikes", first=("launch",))
    def sparse_spikes(launch: Launcher, indptr: Array, indices: Array, w: Array, *a: Any):
        return cuda_spike_forward(launch, kind, indptr, indices, w, a[:nf], *a[nf:])

    @cuda_op(ff.backward_dense)
    @sign(False, "backward_dense", first=("launch",))
    def bdense(launch: Launcher, g: Array, sp: Array, x: Array, w: Array, *a: Any):
        return cuda_backward_dense(launch, kind, g, sp, x, w, a[:na], *a[na:])

    @cuda_op(ff.backward_sparse)
    @sign(False, "backward_sparse", first=("launch",))
    def bsparse(launch: Launcher, g: Array, act: ActiveSet, x: SpikeMatrix, w: Array, *a: Any):
        return cuda_backward_sparse(launch, kind, g, act, x, w, a[:na], *a[na:])
