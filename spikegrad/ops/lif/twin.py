r"""LIF layer ops, NumPy twins (ALGORITHM.md §2 and §4). Time-major (T, B, N) arrays.

Forward, for input current h[t] = x[t] @ W:

    V[0] = 0,   S[t] = V[t] > theta,   V[t+1] = alpha V[t] + h[t] - theta S[t]

Backward with detached reset, g = dL/dS:

    delta[t] = g[t] sigma'(V[t])      eps[t] = delta[t] + alpha eps[t+1]   (eps[T] = 0)
    dW = sum_{b,t} x[t]^T eps[t+1]    dL/dx[t] = eps[t+1] @ W^T

alpha of every hidden-layer op is one float or one value per neuron (an (N,) array, broadcast
along the neuron axis j): ALGORITHM.md §2's per-neuron ("heterogeneous") time constants.
"""

from __future__ import annotations

import numpy as np

from ...backend import Array, call, get_xp, register
from ...errors import ShapeError
from ...neurons import lif as kind
from ...spikes import SpikeMatrix
from .. import kind_twin as twin
from ..common import check_alpha, check_csr, check_index, check_shape, check_sorted_index
from ..half import widen
from ..surrogate import ActiveSet, active_from_distance
from ..threads import pool


def as_alpha(alpha: float | Array, like: Array) -> np.generic | Array:
    """alpha in the dtype and array module of ``like``: a scalar, or for per-neuron alpha an
    (N,) array (broadcast along the last axis)."""
    if np.ndim(alpha) == 0:
        return like.dtype.type(alpha)
    return get_xp(like).asarray(alpha, dtype=like.dtype)


def check_lif_forward(h: Array, alpha: float | Array) -> None:
    """The checks of ``lif_forward`` (every backend): alpha one float or (N,)."""
    check_alpha(alpha, h.shape[-1] if h.ndim > 1 else 1)


def check_spike_forward(
    indptr: Array, indices: Array, w: Array, r: Array | None, alpha: float | Array, tb: tuple
) -> None:
    """The checks of the fused sparse forward of a feed-forward (r None) or recurrent layer
    (every backend): the CSR input pattern against (T, B) and w, r (N, N), alpha."""
    T, B = (int(v) for v in tb)
    if w.ndim != 2:
        raise ShapeError(f"w must be (N_in, N); got shape {tuple(w.shape)}")
    N = w.shape[1]
    if r is not None:
        check_shape("r", r, (N, N))
    check_csr(indptr, indices, T * B, w.shape[0])
    check_alpha(alpha, N)


def check_spike_backward(
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix | None,
    w: Array,
    r: Array | None,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> None:
    """The checks of the sparse backward of a feed-forward (s, r None) or recurrent layer
    (every backend): shapes, the spike patterns, sorted active sets in range, alpha."""
    T, B, N = (int(v) for v in shape)
    if w.ndim != 2 or w.shape[1] != N:
        raise ShapeError(f"w must have shape (N_in, {N}); got {tuple(w.shape)}")
    n_in = w.shape[0]
    check_shape("g", g, act.idx.shape)
    check_shape("act.sp", act.sp, act.idx.shape)
    if r is not None:
        check_shape("r", r, (N, N))
    for name, m, n in (("x", x, n_in), ("s", s, N)):
        if m is None:
            continue
        if (m.T, m.B, m.N) != (T, B, n):
            raise ShapeError(f"{name} must be spikes of shape {(T, B, n)}; got {(m.T, m.B, m.N)}")
        check_csr(m.indptr, m.indices, T * B, n)
    check_sorted_index("act.idx", act.idx, T * B * N)
    if prev is not None:
        check_sorted_index("prev.idx", prev.idx, T * B * n_in)
    check_alpha(alpha, N)


def check_lif_backward_dense(g: Array, sp: Array, x: Array, w: Array, alpha: float | Array) -> None:
    """The checks of ``lif_backward_dense`` (every backend): shapes and alpha."""
    T, B, N = g.shape
    check_shape("sp", sp, g.shape)
    check_shape("w", w, (w.shape[0], N))
    check_shape("x", x, (T * B, w.shape[0]))
    check_alpha(alpha, N)


def check_gather_rowdot(e: Array, rows: Array, w: Array, cols: Array) -> None:
    """The checks of ``gather_rowdot`` (every backend): row lengths, indices in range."""
    if e.ndim != 2 or w.ndim != 2 or e.shape[1] != w.shape[1]:
        raise ShapeError(f"gather_rowdot: e (R, M) and w (C, M) needed; got {e.shape}, {w.shape}")
    check_shape("cols", cols, rows.shape)
    check_index("rows", rows, e.shape[0])
    check_index("cols", cols, w.shape[0])


@register("lif_forward", "numpy")
def lif_forward(h: Array, alpha: float | Array, theta: float) -> Array:
    """Scan the LIF membrane over time; **overwrites h with V**, returns the spikes.

    Shapes: h (T, B, N) float (in: input current, out: V); alpha float or (N,); returns s
    (T, B, N) bool.
    """
    check_lif_forward(h, alpha)
    return twin.forward_dense(kind, h, None, (alpha, theta))


@register("lif_forward_sparse", "numpy")
def lif_forward_sparse(
    h: Array, alpha: float | Array, theta: float, beta_s: float, b_th: float
) -> tuple[Array, ActiveSet]:
    """The sparse mode's forward of one layer: spikes as sorted flat keys and the active set.

    h may be overwritten. Shapes: h (T, B, N) float -> keys (S,) int, flat ``(t * B + b) * N
    + j`` sorted ascending; ActiveSet sorted ascending.
    """
    s = call("lif_forward", h, alpha, theta)
    d = kind.record_distance(kind.params(h, alpha, theta), h.reshape(-1))
    return np.flatnonzero(s), active_from_distance(d, beta_s, b_th)


@register("lif_forward_sparse_spikes", "numpy")
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
    """The sparse mode's forward of one layer from its input spikes: ``lif_forward_sparse``
    of h = x @ w.

    The native C and CUDA kernels compute h on the fly inside the scan and never store it;
    this twin, the reference, is the composition of the two ops and holds one layer's dense h.

    Shapes: indptr (T * B + 1,), indices (nnz,): the input spikes, CSR over rows t * B + b;
    w (N_in, N) float; tb = (T, B) -> keys (S,) int, sorted flat indices
    ``(t * B + b) * N + j``; ActiveSet sorted ascending.
    """
    check_spike_forward(indptr, indices, w, None, alpha, tb)
    return twin.forward_sparse_spikes(
        kind, indptr, indices, w, None, (alpha, theta), beta_s, b_th, tb
    )


@register("gather_rowdot", "numpy")
def gather_rowdot(e: Array, rows: Array, w: Array, cols: Array, chunk: int = 4096) -> Array:
    """``out[n] = e[rows[n]] . w[cols[n]]``. Shapes: e (R, M), w (C, M), rows/cols (A,) -> (A,).

    Chunks small enough for the gathered rows to stay in cache run on the thread pool (NumPy
    releases the GIL in ``take`` and ``vecdot``).
    """
    check_gather_rowdot(e, rows, w, cols)
    w = widen(w)
    out = np.empty(rows.shape[0], dtype=e.dtype)

    def work(lo: int) -> None:
        r = rows[lo : lo + chunk].astype(np.intp)
        c = cols[lo : lo + chunk].astype(np.intp)
        np.vecdot(np.take(e, r, axis=0), np.take(w, c, axis=0), out=out[lo : lo + chunk])

    list(pool().map(work, range(0, rows.shape[0], chunk)))
    return out


@register("lif_backward_dense", "numpy")
def lif_backward_dense(
    g: Array, sp: Array, x: Array, w: Array, alpha: float | Array, need_dx: bool
):
    """Dense BPTT through one layer (the reference and the baseline).

    LIF's adjoint is one linear reverse filter, eps[t] = delta[t] + alpha eps[t+1], so the
    baseline runs it as the reverse leaky scan (a native kernel where there is one) instead of
    the kind driver's step loop (:func:`spikegrad.ops.kind_twin.backward_dense`, which computes
    the same bits: tests/ops/test_lif.py).

    Shapes: g, sp (T, B, N) float (sp: masked surrogate); x (T * B, N_in) float input spikes;
    w (N_in, N). Returns dw (N_in, N) and dx (T, B, N_in) or None.
    """
    check_lif_backward_dense(g, sp, x, w, alpha)
    T, B, N = g.shape
    e = np.zeros((T + 1, B, N), dtype=g.dtype)  # row T stays 0: eps[T] = 0
    np.multiply(g, sp, out=e[:T])
    call("leaky_scan_reverse", e, alpha)
    e1 = e[1:].reshape(T * B, N)
    dw = x.T @ e1
    dx = (e1 @ widen(w).T).reshape(T, B, w.shape[0]) if need_dx else None
    return dw, dx


@register("lif_backward_sparse", "numpy")
def lif_backward_sparse(
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    w: Array,
    alpha: float | Array,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
):
    """Sparse spiking backward through one layer (S3GD, ALGORITHM.md §5).

    delta exists only on the active set; eps is its reset-free time filter; dW = x^T eps uses
    the input's spike events; dL/dx is evaluated only at the previous layer's active entries.

    Shapes: g (A,) = dL/dS on ``act``; x: input spikes (T * B, N_in); w (N_in, N);
    shape = (T, B, N). Returns dw (N_in, N) and dx (A_prev,) or None.
    """
    check_spike_backward(g, act, x, None, w, None, alpha, prev, shape)
    dw, _, dx = twin.backward_sparse(kind, g, act, x, None, w, None, (alpha,), prev, shape)
    return dw, dx
