r"""The NumPy twins of every kind's layer ops, written once over the kind's step functions.

These are the oracles the native C and CUDA kernels are checked against: plain loops over
time, readable before fast. ``kind`` is a neuron-kind module (:mod:`spikegrad.neurons.lif`),
``args`` the constants the op takes (the kind's FORWARD_ARGS or ADJOINT_ARGS), ``r`` the
recurrent weights (N, N) of a recurrent layer or None. Time-major (T, B, N) arrays.

Forward: S[t] = fire(V[t]); state[t+1] = update(state[t], S[t], h[t] + S[t] @ R). Backward
(reset detached, ALGORITHM.md §4), t = T-1 down to 0 from the zero adjoint at T::

    dh[t]   = current_grad(adjoint[t+1])                        (= dL/dh[t])
    g_t     = g[t] + dh[t] @ R^T                                (recurrent; only where active)
    adjoint[t] = flush(adjoint(adjoint[t+1], g_t, sigma'[t]))   (sigma' 0 off the active set)
    dW = sum_t x[t]^T dh[t],   dR = sum_t S[t]^T dh[t],   dL/dx[t] = dh[t] @ W^T

flush: the denormal policy of every reverse scan (``leaky_scan_reverse``): a value below the
smallest normal number of the dtype is set to +0 after each step.

w and r may be 16-bit weight copies (:mod:`spikegrad.ops.half`): read as float32.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ..backend import Array, call, get_xp, register, registered
from ..errors import KernelError, ShapeError
from ..spikes import SpikeMatrix
from .half import widen
from .surrogate import ActiveSet, active_from_distance


def _flush(adj: tuple) -> tuple:
    """Every array of an adjoint record with |value| < tiny set to +0, in place."""
    for a in adj:
        a[get_xp(a).abs(a) < np.finfo(a.dtype).tiny] = 0
    return adj


def _check_r(r: Array | None, n: int) -> None:
    if r is not None and tuple(r.shape) != (n, n):
        raise ShapeError(f"r must have shape ({n}, {n}); got {tuple(r.shape)}")


def forward_dense(kind: ModuleType, h: Array, r: Array | None, args: tuple) -> Array:
    """The dense mode's scan (S[t] @ R as one product per step); **overwrites h with the
    kind's record** (LIF: V), returns the spikes. xp-generic.

    Shapes: h (T, B, N) float (in: the feed-forward current); r (N, N) or None -> s (T, B, N)
    bool.
    """
    xp = get_xp(h) if r is None else get_xp(h, r)
    _check_r(r, h.shape[-1])
    r = widen(r)
    p = kind.params(h, *args)
    s = xp.empty(h.shape, dtype=bool)
    st = kind.initial_state(xp, h.shape[1:], h.dtype)
    for t in range(h.shape[0]):
        s[t] = kind.fire(p, st)
        cur = h[t] if r is None else h[t] + s[t].astype(h.dtype) @ r
        nxt = kind.update(p, st, s[t], cur)
        h[t] = kind.record(p, st)
        st = nxt
    return s


def forward_sparse_spikes(
    kind: ModuleType,
    indptr: Array,
    indices: Array,
    w: Array,
    r: Array | None,
    args: tuple,
    beta_s: float,
    b_th: float,
    tb: tuple[int, int],
) -> tuple[Array, ActiveSet]:
    """The sparse mode's (and inference's) forward of one layer from its input spikes.

    S[t] @ R is taken in event form: the rows R[k] of the neurons k that spike at t are added
    to the current one at a time, b then k ascending (the order of the fused kernels, bit for
    bit). The native kernels make h inside the scan; this twin holds one layer's dense h.

    Shapes: indptr (T * B + 1,), indices (nnz,): input spikes, CSR over rows t * B + b; w
    (N_in, N); r (N, N) or None; tb = (T, B) -> keys (S,) int64, sorted flat indices
    ``(t * B + b) * N + j``; ActiveSet (of |distance| < b_th) sorted ascending.
    """
    T, B = (int(v) for v in tb)
    if tuple(indptr.shape) != (T * B + 1,):
        raise ShapeError(f"indptr must have shape ({T * B + 1},); got {tuple(indptr.shape)}")
    N = w.shape[1]
    _check_r(r, N)
    r = widen(r)
    h = call("spike_matmul", indptr, indices, w).reshape(T, B, N)
    p = kind.params(h, *args)
    s = np.empty(h.shape, dtype=bool)
    d = np.empty_like(h)
    st = kind.initial_state(np, (B, N), h.dtype)
    for t in range(T):
        s[t], d[t] = kind.fire(p, st), kind.distance(p, st)
        if r is not None:
            b, k = np.nonzero(s[t])  # b ascending, then k ascending
            np.add.at(h[t], b, r[k])  # each h[t, b, j] += r[k, j] in that order
        st = kind.update(p, st, s[t], h[t])
    return np.flatnonzero(s), active_from_distance(d.reshape(-1), beta_s, b_th)


def backward_dense(
    kind: ModuleType,
    g: Array,
    sp: Array,
    x: Array,
    s: Array | None,
    w: Array,
    r: Array | None,
    args: tuple,
    need_dx: bool,
) -> tuple[Array, Array | None, Array | None]:
    """Plain BPTT through one layer (the reference and the baseline). xp-generic.

    Shapes: g, sp (T, B, N) float (sp: the masked surrogate); x (T * B, N_in) float input
    spikes; s (T * B, N) float own spikes (recurrent) or None; w (N_in, N); r (N, N) or None.
    Returns dw (N_in, N), dr (N, N) or None, dx (T, B, N_in) or None.
    """
    xp = get_xp(g, sp, x, w) if r is None else get_xp(g, sp, x, s, w, r)
    T, B, N = g.shape
    w, r = widen(w), widen(r)
    p = kind.params(g, *args)
    dh = xp.zeros((T + 1, B, N), dtype=g.dtype)  # dh[t + 1] = dL/dh[t]; row 0 unused
    adj = kind.initial_adjoint(xp, (B, N), g.dtype)
    for t in range(T - 1, -1, -1):
        dh[t + 1] = kind.current_grad(adj)
        gt = g[t] if r is None else g[t] + dh[t + 1] @ r.T
        adj = _flush(kind.adjoint(p, adj, gt, sp[t]))
    e1 = dh[1:].reshape(T * B, N)
    dx = (e1 @ w.T).reshape(T, B, w.shape[0]) if need_dx else None
    return x.T @ e1, (None if r is None else s.T @ e1), dx


def backward_sparse(
    kind: ModuleType,
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    s: SpikeMatrix | None,
    w: Array,
    r: Array | None,
    args: tuple,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array | None, Array | None]:
    """Sparse backward through one layer (S3GD, ALGORITHM.md §4-5): g and sigma' exist only
    on the active set; the recurrent term dh[t] . R[j] is evaluated only at active entries;
    dL/dx only at the previous layer's active entries.

    Shapes: g (A,) = dL/dS on ``act``; x: input spikes (T * B, N_in); s: own spikes
    (T * B, N) or None; w (N_in, N); r (N, N) or None; shape = (T, B, N). Returns dw
    (N_in, N), dr (N, N) or None, dx (A_prev,) (at ``prev``'s entries) or None.
    """
    T, B, N = shape
    if g.shape != act.idx.shape:
        raise ShapeError(f"g must have shape {act.idx.shape}; got {g.shape}")
    r = widen(r)
    p = kind.params(g, *args)
    dh = np.zeros((T + 1, B, N), dtype=g.dtype)
    adj = kind.initial_adjoint(np, (B, N), g.dtype)
    bounds = np.searchsorted(act.idx, np.arange(T + 1, dtype=np.int64) * (B * N))
    for t in range(T - 1, -1, -1):
        dh[t + 1] = kind.current_grad(adj)
        lo, hi = int(bounds[t]), int(bounds[t + 1])
        gt, spt = np.zeros((B, N), g.dtype), np.zeros((B, N), g.dtype)
        if hi > lo:
            b, j = np.divmod(act.idx[lo:hi].astype(np.int64) - t * B * N, N)
            gt[b, j] = g[lo:hi] if r is None else g[lo:hi] + np.vecdot(dh[t + 1][b], r[j])
            spt[b, j] = act.sp[lo:hi]
        adj = _flush(kind.adjoint(p, adj, gt, spt))
    e1 = dh[1:].reshape(T * B, N)
    dx = None
    if prev is not None:
        rows, cols = np.divmod(prev.idx, w.shape[0])
        dx = call("gather_rowdot", e1, rows, w, cols)
    return x.tmatmul(e1), (None if r is None else s.tmatmul(e1)), dx


# The arguments of a kind's ops around its constants (FORWARD_ARGS for the forward ops,
# ADJOINT_ARGS for the backward ones): OpNames field -> (arrays feed-forward, arrays
# recurrent, the mode's settings).
_OP_ARGS = {
    "forward": (("h",), ("h", "r"), ()),
    "forward_sparse_spikes": (
        ("indptr", "indices", "w"),
        ("indptr", "indices", "w", "r"),
        ("beta_s", "b_th", "tb"),
    ),
    "backward_dense": (("g", "sp", "x", "w"), ("g", "sp", "x", "s", "w", "r"), ("need_dx",)),
    "backward_sparse": (
        ("g", "act", "x", "w"),
        ("g", "act", "x", "s", "w", "r"),
        ("prev", "shape"),
    ),
}


def signed(fn: Callable[..., Any], kind: ModuleType, recurrent: bool, field: str, first=()):
    """``fn`` (which takes ``*args``) with the signature of op ``kind.OPS[recurrent].<field>``
    (positional-only; ``first``: parameters before the op's, e.g. the CUDA launcher)."""
    arrays, rarrays, settings = _OP_ARGS[field]
    consts = kind.FORWARD_ARGS if field.startswith("forward") else kind.ADJOINT_ARGS
    names = [*first, *(rarrays if recurrent else arrays), *consts, *settings]
    kinds = inspect.Parameter.POSITIONAL_ONLY
    fn.__signature__ = inspect.Signature([inspect.Parameter(n, kinds) for n in names])
    return fn


def twin_ops(kind: ModuleType) -> dict[str, Callable[..., Any]]:
    """The eight ops of ``kind`` (``kind.OPS``) as these drivers, by op name, with the
    signatures of the LIF ops (the arrays, then the kind's FORWARD_ARGS or ADJOINT_ARGS, then
    the mode's settings)."""
    nf, na = len(kind.FORWARD_ARGS), len(kind.ADJOINT_ARGS)
    ff, rc = kind.OPS[False], kind.OPS[True]

    def forward(h: Array, *a: object) -> Array:
        return forward_dense(kind, h, None, a)

    def rforward(h: Array, r: Array, *a: object) -> Array:
        return forward_dense(kind, h, r, a)

    def sparse_spikes(indptr: Array, indices: Array, w: Array, *a: object):
        return forward_sparse_spikes(kind, indptr, indices, w, None, a[:nf], *a[nf:])

    def rsparse_spikes(indptr: Array, indices: Array, w: Array, r: Array, *a: object):
        return forward_sparse_spikes(kind, indptr, indices, w, r, a[:nf], *a[nf:])

    def bdense(g: Array, sp: Array, x: Array, w: Array, *a: object):
        dw, _, dx = backward_dense(kind, g, sp, x, None, w, None, a[:na], *a[na:])
        return dw, dx

    def rbdense(g: Array, sp: Array, x: Array, s: Array, w: Array, r: Array, *a: object):
        return backward_dense(kind, g, sp, x, s, w, r, a[:na], *a[na:])

    def bsparse(g: Array, act: ActiveSet, x: SpikeMatrix, w: Array, *a: object):
        dw, _, dx = backward_sparse(kind, g, act, x, None, w, None, a[:na], *a[na:])
        return dw, dx

    def rbsparse(g: Array, act: ActiveSet, x: SpikeMatrix, s: SpikeMatrix, w: Array, r, *a):
        return backward_sparse(kind, g, act, x, s, w, r, a[:na], *a[na:])

    fns = (forward, sparse_spikes, bdense, bsparse, rforward, rsparse_spikes, rbdense, rbsparse)
    fields = ff._fields * 2
    recurrent = [False] * 4 + [True] * 4
    return {
        name: signed(fn, kind, rec, field)
        for name, fn, rec, field in zip((*ff, *rc), fns, recurrent, fields, strict=True)
    }


def register_ops(kind: ModuleType) -> None:
    """Register the eight ops of ``kind`` as :func:`twin_ops`. The dense forward and backward
    are xp-generic (they also run on CuPy); the sparse ones, whose CUDA kernels a kind brings
    with its kernels, are registered for CuPy as a refusal naming the kind unless a CUDA
    kernel is registered already."""
    twins = twin_ops(kind)

    def refuse(*_: object) -> None:
        raise KernelError(
            f"neuron kind {kind.NAME!r} has no CUDA kernels yet: its sparse mode and inference "
            "run on backend 'numpy' (its dense mode runs on CuPy)"
        )

    for names in kind.OPS.values():
        for name, generic in zip(names, (True, False, True, False), strict=True):
            register(name, "numpy", xp_generic=generic)(twins[name])
            if not generic and not registered(name, "cupy"):  # never hide a CUDA kernel
                register(name, "cupy")(refuse)


def register_missing_ops(kind: ModuleType) -> None:
    """:func:`register_ops` for a kind whose ops have no NumPy implementation registered yet
    (a kind with twins of its own, like LIF's in :mod:`spikegrad.ops.lif`, keeps them)."""
    if not registered(kind.OPS[False].forward, "numpy"):
        register_ops(kind)
