r"""Recurrent LIF layer ops, NumPy twins (ALGORITHM.md §2, event form, and §4). Time-major.

Forward, with the feed-forward current h[t] = x[t] @ W and recurrent weights R (N, N):

    S[t] = V[t] > theta      V[t+1] = alpha V[t] + (h[t] + S[t] @ R) - theta S[t]

S[t] @ R is taken in event form: the rows R[k] of the neurons k that spike at t are added to
the current, k ascending, after the input rows (the order of the fused kernels, bit for bit).

Backward with detached reset, g = the external dL/dS (next layer, readout, regulariser):

    delta[t] = (g[t] + eps[t+1] @ R^T) sigma'(V[t])    (0 off the active set)
    eps[t]   = delta[t] + alpha eps[t+1]               (eps[T] = 0; the denormal flush)
    dW = sum_t x[t]^T eps[t+1]    dR = sum_t S[t]^T eps[t+1]    dL/dx[t] = eps[t+1] @ W^T

alpha is one float or one value per neuron ((N,), broadcast along j), as for the FF ops.
"""

from __future__ import annotations

import numpy as np

from ...backend import Array, call, get_xp, register
from ...spikes import SpikeMatrix
from ..lif.twin import as_alpha, check_spike_backward, check_spike_forward
from ..surrogate import ActiveSet, active_from_distance


def _flush(e: Array) -> None:
    """The denormal policy of every reverse scan (see ``leaky_scan_reverse``), in place."""
    xp = get_xp(e)
    e[xp.abs(e) < np.finfo(e.dtype).tiny] = 0


@register("rlif_forward", "numpy", xp_generic=True)
def rlif_forward(h: Array, r: Array, alpha: float | Array, theta: float) -> Array:
    """The dense mode's recurrent scan (S[t] @ R as one product per step); **overwrites h with
    V**, returns the spikes.

    Shapes: h (T, B, N) float (in: the feed-forward current, out: V); r (N, N); alpha float
    or (N,). Returns s (T, B, N) bool.
    """
    xp = get_xp(h, r)
    s = xp.empty(h.shape, dtype=bool)
    a, th = as_alpha(alpha, h), h.dtype.type(theta)
    v = xp.zeros(h.shape[1:], dtype=h.dtype)
    for t in range(h.shape[0]):
        st = v > th
        s[t] = st
        nxt = v * a
        nxt += h[t] + st.astype(h.dtype) @ r
        nxt -= th * st
        h[t] = v
        v = nxt
    return s


@register("rlif_forward_sparse_spikes", "numpy")
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
    """The sparse mode's (and inference's) forward of one recurrent layer from its input spikes.

    The native C and CUDA kernels compute the current inside the scan; this twin, the
    reference, holds one layer's dense h and |V - theta|.

    Shapes: indptr (T * B + 1,), indices (nnz,): input spikes, CSR over rows t * B + b; w
    (N_in, N); r (N, N); alpha float or (N,); tb = (T, B) -> keys (S,) int64, sorted flat
    indices ``(t * B + b) * N + j``; ActiveSet sorted ascending.
    """
    check_spike_forward(indptr, indices, w, r, alpha, tb)
    T, B = (int(v) for v in tb)
    N = w.shape[1]
    h = call("spike_matmul", indptr, indices, w).reshape(T, B, N)
    a, th = as_alpha(alpha, h), h.dtype.type(theta)
    d = np.empty_like(h)
    v = np.zeros((B, N), dtype=h.dtype)
    keys = []
    for t in range(T):
        np.abs(v - th, out=d[t])
        st = v > th
        b, k = np.nonzero(st)  # b ascending, then k ascending
        np.add.at(h[t], b, r[k])  # each h[t, b, j] += r[k, j] in that order, one at a time
        keys.append(np.flatnonzero(st) + t * B * N)
        nxt = v * a
        nxt += h[t]
        np.subtract(nxt, th, out=nxt, where=st)
        v = nxt
    keys_all = np.concatenate(keys) if keys else np.empty(0, dtype=np.int64)
    return keys_all.astype(np.int64, copy=False), active_from_distance(d.reshape(-1), beta_s, b_th)


@register("rlif_backward_dense", "numpy", xp_generic=True)
def rlif_backward_dense(
    g: Array,
    sp: Array,
    x: Array,
    s: Array,
    w: Array,
    r: Array,
    alpha: float | Array,
    need_dx: bool,
) -> tuple[Array, Array, Array | None]:
    """Plain BPTT through one recurrent layer (the reference and the baseline): a (B, N) x
    (N, N) product per step.

    Shapes: g, sp (T, B, N) float (sp: masked surrogate); x (T * B, N_in) float input
    spikes; s (T * B, N) float own spikes; w (N_in, N); r (N, N). Returns dw (N_in, N),
    dr (N, N) and dx (T, B, N_in) or None.
    """
    xp = get_xp(g, sp, x, s, w, r)
    T, B, N = g.shape
    a = as_alpha(alpha, g)
    e = xp.zeros((T + 1, B, N), dtype=g.dtype)  # row T stays 0: eps[T] = 0
    rt = r.T
    for t in range(T - 1, -1, -1):
        nxt = e[t + 1]
        cur = (g[t] + nxt @ rt) * sp[t]
        cur += nxt * a
        _flush(cur)
        e[t] = cur
    e1 = e[1:].reshape(T * B, N)
    dx = (e1 @ w.T).reshape(T, B, w.shape[0]) if need_dx else None
    return x.T @ e1, s.T @ e1, dx


@register("rlif_backward_sparse", "numpy")
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
    """Sparse backward through one recurrent layer (ALGORITHM.md §4): the recurrent term
    eps[t+1] . R[j] is evaluated only at the active entries, walking time backwards.

    Shapes: g (A,) = external dL/dS on ``act``; x: input spikes (T * B, N_in); s: the layer's
    own spikes (T * B, N); w (N_in, N); r (N, N); shape = (T, B, N). Returns dw (N_in, N),
    dr (N, N) and dx (A_prev,) (at ``prev``'s entries) or None.
    """
    check_spike_backward(g, act, x, s, w, r, alpha, prev, shape)
    T, B, N = shape
    a = as_alpha(alpha, g)
    e = np.zeros((T + 1, B, N), dtype=g.dtype)
    bounds = np.searchsorted(act.idx, np.arange(T + 1, dtype=np.int64) * (B * N))
    for t in range(T - 1, -1, -1):
        nxt, cur = e[t + 1], e[t]
        lo, hi = int(bounds[t]), int(bounds[t + 1])
        if hi > lo:
            b, j = np.divmod(act.idx[lo:hi].astype(np.int64) - t * B * N, N)
            cur[b, j] = (g[lo:hi] + np.vecdot(nxt[b], r[j])) * act.sp[lo:hi]
        cur += nxt * a
        _flush(cur)
    e1 = e[1:].reshape(T * B, N)
    dx = None
    if prev is not None:
        rows, cols = np.divmod(prev.idx, w.shape[0])
        dx = call("gather_rowdot", e1, rows, w, cols)
    return x.tmatmul(e1), s.tmatmul(e1), dx
