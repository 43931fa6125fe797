r"""Recurrent hidden layers of any neuron kind (ALGORITHM.md §2 and §4): parameters "W{l}"
(N_in, N) and "R{l}" (N, N).

    h[t] = x[t] @ W + S[t] @ R,   the kind's step on h[t]
    g[t] += dL/dh[t] @ R^T   (at active entries only, walking time backwards)
    dW = sum_t x[t]^T dL/dh[t],   dR = sum_t S[t]^T dL/dh[t]

The sparse mode evaluates the recurrent term only at active entries and keeps what a
feed-forward layer keeps; the own spikes S are the next layer's input (kept anyway) and are
shared, not copied. Ops: the kind's ``OPS[True]`` (LIF: ``rlif_forward_sparse_spikes``,
``rlif_forward``, ``rlif_backward_dense``, ``rlif_backward_sparse``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..backend import Array, call, get_xp
from ..ops.half import compute_dtype
from .base import (
    DenseTape,
    Signal,
    SparseTape,
    Tape,
    dense_signal,
    dense_tape,
    sparse_tape,
    spikes_signal,
)

if TYPE_CHECKING:
    from .hidden import HiddenLayer


def param_shapes(layer: HiddenLayer) -> dict[str, tuple[int, int]]:
    """W{l} (N_in, N), R{l} (N, N); R's default initialisation is W's scheme with fan_in N."""
    return {f"W{layer.index}": (layer.n_in, layer.n), f"R{layer.index}": (layer.n, layer.n)}


def _weights(layer: HiddenLayer, params: dict) -> tuple[Array, Array]:
    return params[f"W{layer.index}"], params[f"R{layer.index}"]


def _grads(layer: HiddenLayer, dw: Array, dr: Array) -> dict[str, Array]:
    return {f"W{layer.index}": dw, f"R{layer.index}": dr}


def _scan_sparse(layer: HiddenLayer, params: dict, x: Signal, b_th: float):
    xs, (w, r) = x.spikes, _weights(layer, params)
    p = (*layer.fwd, layer.beta_s, b_th)
    op = layer.ops.forward_sparse_spikes
    keys, act = call(op, xs.indptr, xs.indices, w, r, *p, (xs.T, xs.B))
    shape = (xs.T, xs.B, layer.n)
    return spikes_signal(get_xp(w), keys, shape), act, shape


def forward_infer(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, None]:
    """Inference: the spikes only (b_th = 0: no active set is made)."""
    return _scan_sparse(layer, params, x, 0.0)[0], None


def forward_sparse(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, SparseTape]:
    """Sparse mode: the tape keeps the input events, the active set and (shared) the own
    spike events."""
    out, act, shape = _scan_sparse(layer, params, x, layer.b_th)
    return out, sparse_tape(layer, x, act, shape, out)


def forward_dense(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, DenseTape]:
    """Dense mode: h = x @ W as one product, then the scan with one S[t] @ R per step."""
    w, r = _weights(layer, params)
    T, B = x.spikes.T, x.spikes.B
    h = get_xp(w).ascontiguousarray(x.matmul(w).reshape(T, B, layer.n), dtype=compute_dtype(w))
    s = call(layer.ops.forward, h, r, *layer.fwd)  # h now holds the kind's record (LIF: V)
    out = dense_signal(s, h.dtype)
    return out, dense_tape(layer, x, h, out)


def backward_dense(
    layer: HiddenLayer, params: dict, tape: DenseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """Plain BPTT through the recurrence. Shapes: g (T, B, N) -> dx (T, B, N_in) or None."""
    w, r = _weights(layer, params)
    op, need_dx = layer.ops.backward_dense, prev is not None
    dw, dr, dx = call(op, g, tape.sp, tape.x, tape.s, w, r, *layer.adj, need_dx)
    return _grads(layer, dw, dr), dx


def backward_sparse(
    layer: HiddenLayer, params: dict, tape: SparseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """ALGORITHM.md §4's recursion. Shapes: g (A,) -> dx (A_prev,) or None."""
    (w, r), pa = _weights(layer, params), prev.act if prev is not None else None
    op = layer.ops.backward_sparse
    dw, dr, dx = call(op, g, tape.act, tape.x, tape.s, w, r, *layer.adj, pa, tape.shape)
    return _grads(layer, dw, dr), dx


FORWARD = {None: forward_infer, "sparse": forward_sparse, "dense": forward_dense}
BACKWARD = {SparseTape: backward_sparse, DenseTape: backward_dense}
