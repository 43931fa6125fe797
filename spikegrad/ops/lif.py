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

from ..backend import Array, call, get_xp, register
from ..neurons import lif as kind
from ..neurons import twin
from ..spikes import SpikeMatrix
from .surrogate import ActiveSet, active_from_distance
from .threads import pool


def as_alpha(alpha: float | Array, like: Array) -> np.generic | Array:
    """alpha in the dtype and array module of ``like``: a scalar, or for per-neuron alpha an
    (N,) array (broadcast along the last axis)."""
    if np.ndim(alpha) == 0:
        return like.dtype.type(alpha)
    return get_xp(like).asarray(alpha, dtype=like.dtype)


@register("lif_forward", "numpy")
def lif_forward(h: Array, alpha: float | Array, theta: float) -> Array:
    """Scan the LIF membrane over time; **overwrites h with V**, returns the spikes.

    Shapes: h (T, B, N) float (in: input current, out: V); alpha float or (N,); returns s
    (T, B, N) bool.
    """
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
    return twin.forward_sparse_spikes(
        kind, indptr, indices, w, None, (alpha, theta), beta_s, b_th, tb
    )


@register("leaky_scan_reverse", "numpy")
def leaky_scan_reverse(e: Array, alpha: float | Array) -> Array:
    """In place: ``e[t] += alpha * e[t+1]`` from the end backwards. Shapes: e (T', ...);
    alpha float or an array broadcast along e's last axis (N,).

    Denormal policy, the one of every reverse scan (this twin, the native C kernel, the CUDA
    readout and eps scans): after each step, a value whose magnitude is below the smallest
    normal number of the dtype (``np.finfo(dtype).tiny``) is set to +0; the step itself is
    IEEE arithmetic (gradual underflow). The top row e[T'-1] is not a step and is left as is.
    eps decays geometrically through silent stretches into subnormals, whose arithmetic is an
    order of magnitude slower on x86; the values dropped are below any gradient's resolution.
    The three implementations agree bit for bit (tests/ops/test_native.py,
    tests/kernels/test_emulation.py).
    """
    a = as_alpha(alpha, e)
    tiny = np.finfo(e.dtype).tiny
    tmp = np.empty_like(e[:1])
    small = np.empty(tmp.shape, dtype=bool)
    for t in range(e.shape[0] - 2, -1, -1):
        row = e[t : t + 1]  # a view also when e is 1-D
        np.multiply(e[t + 1 : t + 2], a, out=tmp)
        row += tmp
        np.abs(row, out=tmp)
        np.less(tmp, tiny, out=small)
        np.copyto(row, 0, where=small)
    return e


@register("leaky_scan", "numpy")
def leaky_scan(x: Array, alpha: float, gain: float) -> Array:
    """``y[0] = 0, y[t+1] = alpha y[t] + gain x[t]``. Shapes: x (T, ...) -> y (T, ...)."""
    y = np.empty_like(x)
    a, c = x.dtype.type(alpha), x.dtype.type(gain)
    y[:1] = 0
    for t in range(x.shape[0] - 1):
        nxt = y[t + 1 : t + 2]  # a view also when x is 1-D
        np.multiply(y[t : t + 1], a, out=nxt)
        nxt += c * x[t : t + 1]
    return y


@register("gather_rowdot", "numpy")
def gather_rowdot(e: Array, rows: Array, w: Array, cols: Array, chunk: int = 4096) -> Array:
    """``out[n] = e[rows[n]] . w[cols[n]]``. Shapes: e (R, M), w (C, M), rows/cols (A,) -> (A,).

    Chunks small enough for the gathered rows to stay in cache run on the thread pool (NumPy
    releases the GIL in ``take`` and ``vecdot``).
    """
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

    Shapes: g, sp (T, B, N) float (sp: masked surrogate); x (T * B, N_in) float input spikes;
    w (N_in, N). Returns dw (N_in, N) and dx (T, B, N_in) or None.
    """
    dw, _, dx = twin.backward_dense(kind, g, sp, x, None, w, None, (alpha,), need_dx)
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
    dw, _, dx = twin.backward_sparse(kind, g, act, x, None, w, None, (alpha,), prev, shape)
    return dw, dx
