"""The recurrent LIF layer's kernels behind its twins' signatures: the native C wrappers (the
LIF family's fused kernels with r, :mod:`spikegrad.ops.lif.glue`) and the CUDA host code
(``rlif.cu``). Each runs the twin's check first; the native ones hand a dtype the kernels lack
to the twin.
"""

from __future__ import annotations

import numpy as np

from ... import kernels
from ...backend import Array, get_xp
from ...kernels import BLOCK
from ...kernels.host import Launcher, cuda_op, in_array, index_arrays, run
from ...spikes import SpikeMatrix
from ..common import NEURON_PIECES, alpha_vector, native_op, supported
from ..lif.glue import count_emit, cuda_gather_rowdot, spike_backward, spike_forward
from ..lif.twin import check_spike_backward, check_spike_forward
from ..spmm.glue import cuda_spike_tmatmul
from ..surrogate import ActiveSet, index_dtype
from . import twin

kernels.add_module(
    "rlif",
    __file__,
    {
        "rlif_spikes_count_kernel": ("T", "I"),
        "rlif_spikes_emit_kernel": ("T", "I"),
        "rlif_backward_kernel": ("T", "I"),
    },
    cooperative=("rlif_spikes_count_kernel", "rlif_spikes_emit_kernel", "rlif_backward_kernel"),
    include=(NEURON_PIECES,),
)


# ---------------------------------------------------------------------------- native C
@native_op(
    "rlif_forward_sparse_spikes",
    twin.rlif_forward_sparse_spikes,
    lambda ip, ind, w, r, *_: supported(w) and r.dtype == w.dtype,
)
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
    consts = (theta, beta_s, b_th)
    return spike_forward("rlif_forward_sparse_spikes", indptr, indices, w, r, alpha, consts, tb)


@native_op(
    "rlif_backward_sparse",
    twin.rlif_backward_sparse,
    lambda g, act, x, s, w, r, *_: supported(w) and g.dtype == w.dtype == act.sp.dtype == r.dtype,
)
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
    return spike_backward("rlif_backward_sparse", g, act, x, s, w, r, alpha, prev, shape)


# ------------------------------------------------------------------------- CUDA host
RLIF_SHARED = 2048  # = SG_RLIF_SHARED of rlif.cu: up to this N the per-sample rows sit in shared
#                     memory (tests set 0 to run the global-memory fallback)


@cuda_op("rlif_forward_sparse_spikes")
def cuda_rlif_forward_sparse_spikes(
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
    no (T, B, N) array.

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N); r (N, N); alpha float or (N,); tb = (T, B) -> keys (S,) sorted flat indices
    ``(t * B + b) * N + j``; ActiveSet sorted, idx int32 when T * B * N < 2**31, else int64.
    """
    check_spike_forward(indptr, indices, w, r, alpha, tb)
    w = in_array("w", w)
    r = in_array("r", r, w.dtype)
    dt, xp = w.dtype, get_xp(w)
    T, B = (int(v) for v in tb)
    N = w.shape[1]
    out_idt = np.dtype(index_dtype(T * B * N))
    idt, (indptr, indices) = index_arrays(indptr, indices, least=out_idt)
    f = dt.type
    a = alpha_vector(alpha, w, N)
    src = (indptr, indices, w, r, a, np.int64(a.size), np.int64(T), np.int64(B), np.int64(N))
    src += (f(theta),)
    scratch = (
        xp.empty((B, N), dtype=dt),
        xp.empty((B, N), dtype=np.int32),
        np.int32(N <= RLIF_SHARED),
    )
    return count_emit(
        launch,
        ("rlif", "rlif_spikes_count_kernel", "rlif_spikes_emit_kernel"),
        kernels.template_args(dt, idt),
        B * BLOCK if N else 0,
        B * BLOCK,
        lambda n_spk, n_act: (*src, f(b_th), *scratch, n_spk, n_act),
        lambda offs: (*src, f(beta_s), f(b_th), *scratch, *offs),
        (w, idt, out_idt),
    )


@cuda_op("rlif_backward_sparse")
def cuda_rlif_backward_sparse(
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
    check_spike_backward(g, act, x, s, w, r, alpha, prev, shape)
    T, B, N = shape
    g = in_array("g", g)
    dt = g.dtype
    sp = in_array("act.sp", act.sp, dt)
    n_in = w.shape[0]
    w = in_array("w", w, dt)
    r = in_array("r", r, dt)
    xp = get_xp(g)
    idt, (idx,) = index_arrays(act.idx, least=index_dtype(0))
    bounds = xp.arange(T * B + 1, dtype=np.int64) * N  # row t * B + b starts at key row * N
    rowptr = xp.searchsorted(idx.astype(np.int64, copy=False), bounds).astype(idt)
    a = alpha_vector(alpha, g, N)
    d = xp.zeros((B, N), dtype=dt)
    e1 = xp.empty((T * B, N), dtype=dt)
    args = (g, sp, idx, rowptr, r, a, np.int64(a.size), np.int64(T), np.int64(B), np.int64(N), d)
    args += (np.int32(N <= RLIF_SHARED), e1)
    run(
        launch,
        "rlif",
        "rlif_backward_kernel",
        kernels.template_args(dt, idt),
        B * BLOCK if N else 0,
        args,
    )
    dw = cuda_spike_tmatmul(launch, x.indptr, x.indices, e1, n_in)
    dr = cuda_spike_tmatmul(launch, s.indptr, s.indices, e1, N)
    dx = None
    if prev is not None:
        dx = cuda_gather_rowdot(launch, e1, prev.idx // n_in, w, prev.idx % n_in)
    return dw, dr, dx
