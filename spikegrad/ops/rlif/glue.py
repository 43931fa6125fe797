"""The recurrent layer's CUDA host code (``rlif.cu``, templated on the neuron kind), behind
the twins' signatures; each runs the twin's check first. Its native C kernels are the LIF
family's fused drivers with r (:func:`spikegrad.ops.lif.glue.register_native`).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from ... import kernels
from ...backend import Array, get_xp
from ...errors import DTypeError
from ...kernels import BLOCK
from ...kernels.host import Launcher, cuda_op, in_array, index_arrays, run
from ...spikes import SpikeMatrix
from ..common import NEURON_PIECES
from ..half import compute_dtype
from ..half.glue import weights_in
from ..kind_twin import signed
from ..lif.glue import count_emit, cuda_gather_rowdot, kind_constants
from ..lif.twin import check_spike_backward, check_spike_forward
from ..spmm.glue import cuda_spike_tmatmul
from ..surrogate import ActiveSet, index_dtype

kernels.add_module(
    "rlif",
    __file__,
    {
        "rlif_spikes_count_kernel": ("K", "T", "W", "I"),
        "rlif_spikes_emit_kernel": ("K", "T", "W", "I"),
        "rlif_backward_kernel": ("K", "T", "W", "I"),
    },
    cooperative=("rlif_spikes_count_kernel", "rlif_spikes_emit_kernel", "rlif_backward_kernel"),
    include=(NEURON_PIECES,),
)


# ------------------------------------------------------------------------- CUDA host
RLIF_SHARED = 2048  # = SG_RLIF_SHARED of rlif.cu: up to this N the per-sample rows sit in shared
#                     memory (tests set 0 to run the global-memory fallback)


def cuda_rspike_forward(
    launch: Launcher,
    kind: ModuleType,
    indptr: Array,
    indices: Array,
    w: Array,
    r: Array,
    values: tuple,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The recurrent layer's fused sparse forward for ``kind`` (rlif.cu; values: its
    FORWARD_ARGS): one block per sample, the input and recurrent currents summed inside the
    scan in the twin's order (bitwise equal).

    Count pass, prefix sums, emit pass into per-(sample, thread) buckets, then keys and
    active entries sorted (:func:`count_emit`). Scratch: the state (B, K::NS N) and the spike
    list (B, N); no (T, B, N) array.

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N); r (N, N); each constant a float or (N,); tb = (T, B) -> keys (S,) sorted flat
    indices ``(t * B + b) * N + j``; ActiveSet sorted, idx int32 when T * B * N < 2**31, else
    int64.
    """
    check_spike_forward(indptr, indices, w, r, values[0], tb)
    w = weights_in("w", w)
    dt, xp = compute_dtype(w), get_xp(w)
    r = weights_in("r", r, dt)
    if r.dtype != w.dtype:
        raise DTypeError(f"r must have the dtype of w ({w.dtype}); got {r.dtype}")
    T, B = (int(v) for v in tb)
    N = w.shape[1]
    out_idt = np.dtype(index_dtype(T * B * N))
    idt, (indptr, indices) = index_arrays(indptr, indices, least=out_idt)
    f = dt.type
    k = kind_constants(kind.FORWARD_ARGS, values, w, N)
    src = (indptr, indices, w, r, k, np.int64(k.shape[0]), np.int64(k.shape[1]))
    src += (np.int64(T), np.int64(B), np.int64(N))
    scratch = (
        xp.empty((B, state_size(kind) * N), dtype=dt),
        xp.empty((B, N), dtype=np.int32),
        np.int32(N <= RLIF_SHARED),
    )
    return count_emit(
        launch,
        ("rlif", "rlif_spikes_count_kernel", "rlif_spikes_emit_kernel"),
        kernels.template_args(dt, idt, kind=kind.NAME, weights=w.dtype),
        B * BLOCK if N else 0,
        B * BLOCK,
        lambda n_spk, n_act: (*src, f(b_th), *scratch, n_spk, n_act),
        lambda offs: (*src, f(beta_s), f(b_th), *scratch, *offs),
        (k, idt, out_idt),
    )


def state_size(kind: ModuleType) -> int:
    """The number of state (and at most of adjoint) variables per neuron of ``kind``."""
    return len(kind.State._fields)


def cuda_rbackward_sparse(
    launch: Launcher,
    kind: ModuleType,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix,
    w: Array,
    r: Array,
    values: tuple,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array, Array | None]:
    """Sparse backward through one recurrent layer of ``kind`` (ALGORITHM.md §4, §8; values:
    its ADJOINT_ARGS): rlif_backward_kernel walks each sample's time backwards (the recurrent
    dot products at the active entries only) into a transient e1 (T, B, N); then dW = x^T e1,
    dR = s^T e1 (spike_tmatmul) and dL/dx at ``prev``'s entries (gather_rowdot).

    Shapes: g (A,) = external dL/dS on ``act`` (idx sorted ascending, as the forward gives
    it); x: input spikes (T * B, N_in); s: the layer's own spikes (T * B, N); w (N_in, N);
    r (N, N); each constant a float or (N,); shape = (T, B, N). Returns dw (N_in, N), dr
    (N, N) and dx (A_prev,) aligned with prev.idx, or None.
    """
    check_spike_backward(g, act, x, s, w, r, values[0], prev, shape)
    T, B, N = shape
    g = in_array("g", g)
    dt = g.dtype
    sp = in_array("act.sp", act.sp, dt)
    n_in = w.shape[0]
    w = weights_in("w", w, dt)
    r = weights_in("r", r, dt)
    xp = get_xp(g)
    idt, (idx,) = index_arrays(act.idx, least=index_dtype(0))
    bounds = xp.arange(T * B + 1, dtype=np.int64) * N  # row t * B + b starts at key row * N
    rowptr = xp.searchsorted(idx.astype(np.int64, copy=False), bounds).astype(idt)
    k = kind_constants(kind.ADJOINT_ARGS, values, g, N)
    d = xp.zeros((B, 2 * N), dtype=dt)
    ya = xp.empty((B, len(kind.Adjoint._fields) * N), dtype=dt)
    e1 = xp.empty((T * B, N), dtype=dt)
    args = (g, sp, idx, rowptr, r, k, np.int64(k.shape[0]), np.int64(k.shape[1]))
    args += (np.int64(T), np.int64(B), np.int64(N), d, ya, np.int32(N <= RLIF_SHARED), e1)
    run(
        launch,
        "rlif",
        "rlif_backward_kernel",
        kernels.template_args(dt, idt, kind=kind.NAME, weights=r.dtype),
        B * BLOCK if N else 0,
        args,
    )
    dw = cuda_spike_tmatmul(launch, x.indptr, x.indices, e1, n_in)
    dr = cuda_spike_tmatmul(launch, s.indptr, s.indices, e1, N)
    dx = None
    if prev is not None:
        dx = cuda_gather_rowdot(launch, e1, prev.idx // n_in, w, prev.idx % n_in)
    return dw, dr, dx


def register_cuda(kind: ModuleType) -> None:
    """Register the CUDA ops of a recurrent layer of ``kind`` under its op names (the twins'
    signatures after the launcher): the fused sparse forward and the sparse backward."""
    nf, na = len(kind.FORWARD_ARGS), len(kind.ADJOINT_ARGS)

    def sign(recurrent: bool, field: str, first: tuple[str, ...] = ()) -> Callable:
        return lambda fn: signed(fn, kind, recurrent, field, first)

    rc = kind.OPS[True]

    @cuda_op(rc.forward_sparse_spikes)
    @sign(True, "forward_sparse_spikes", first=("launch",))
    def rsparse_spikes(launch: Launcher, indptr: Array, indices: Array, w: Array, r: Array, *a):
        return cuda_rspike_forward(launch, kind, indptr, indices, w, r, a[:nf], *a[nf:])

    @cuda_op(rc.backward_sparse)
    @sign(True, "backward_sparse", first=("launch",))
    def rbsparse(launch: Launcher, g: Array, act: ActiveSet, x: SpikeMatrix, s, w, r, *a):
        return cuda_rbackward_sparse(launch, kind, g, act, x, s, w, r, a[:na], *a[na:])
