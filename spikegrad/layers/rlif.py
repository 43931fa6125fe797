r"""Recurrent LIF layer (ALGORITHM.md §2 and §4): parameters "W{l}" (N_in, N), "R{l}" (N, N).

    S[t] = V[t] > theta,   V[t+1] = alpha V[t] + x[t] @ W + S[t] @ R - theta S[t]
    delta[t] = (g[t] + eps[t+1] @ R^T) sigma'(V[t]),   eps[t] = delta[t] + alpha eps[t+1]
    dW = sum_t x[t]^T eps[t+1],   dR = sum_t S[t]^T eps[t+1]

The sparse mode evaluates the recurrent term only at active entries and keeps what a
feed-forward layer keeps; the own spikes S are the next layer's input (kept anyway) and are
shared, not copied. Ops: ``rlif_forward_sparse_spikes``, ``rlif_forward``,
``rlif_backward_dense``, ``rlif_backward_sparse`` (spikegrad/ops/rlif.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import Array, call, get_xp
from .base import (
    DenseTape,
    HiddenLayer,
    Signal,
    SparseTape,
    Tape,
    dense_signal,
    dense_tape,
    sparse_tape,
    spikes_signal,
)


def _weights(layer: RLIF, params: dict) -> tuple[Array, Array]:
    return params[f"W{layer.index}"], params[f"R{layer.index}"]


def _grads(layer: RLIF, dw: Array, dr: Array) -> dict[str, Array]:
    return {f"W{layer.index}": dw, f"R{layer.index}": dr}


def _scan_sparse(layer: RLIF, params: dict, x: Signal, b_th: float):
    xs, (w, r) = x.spikes, _weights(layer, params)
    p = (layer.alpha_op, layer.theta, layer.beta_s, b_th)
    keys, act = call("rlif_forward_sparse_spikes", xs.indptr, xs.indices, w, r, *p, (xs.T, xs.B))
    shape = (xs.T, xs.B, layer.n)
    return spikes_signal(get_xp(w), keys, shape), act, shape


def forward_infer(layer: RLIF, params: dict, x: Signal) -> tuple[Signal, None]:
    """Inference: the spikes only (b_th = 0: no active set is made)."""
    return _scan_sparse(layer, params, x, 0.0)[0], None


def forward_sparse(layer: RLIF, params: dict, x: Signal) -> tuple[Signal, SparseTape]:
    """Sparse mode: the tape keeps the input events, the active set and (shared) the own
    spike events."""
    out, act, shape = _scan_sparse(layer, params, x, layer.b_th)
    return out, sparse_tape(layer, x, act, shape, out)


def forward_dense(layer: RLIF, params: dict, x: Signal) -> tuple[Signal, DenseTape]:
    """Dense mode: h = x @ W as one product, then the scan with one S[t] @ R per step."""
    w, r = _weights(layer, params)
    T, B = x.spikes.T, x.spikes.B
    h = get_xp(w).ascontiguousarray(x.matmul(w).reshape(T, B, layer.n), dtype=w.dtype)
    s = call("rlif_forward", h, r, layer.alpha_op, layer.theta)  # h now holds V
    out = dense_signal(s, w.dtype)
    return out, dense_tape(layer, x, h, out)


def backward_dense(
    layer: RLIF, params: dict, tape: DenseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """Plain BPTT through the recurrence. Shapes: g (T, B, N) -> dx (T, B, N_in) or None."""
    w, r = _weights(layer, params)
    a, need_dx = layer.alpha_op, prev is not None
    dw, dr, dx = call("rlif_backward_dense", g, tape.sp, tape.x, tape.s, w, r, a, need_dx)
    return _grads(layer, dw, dr), dx


def backward_sparse(
    layer: RLIF, params: dict, tape: SparseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """ALGORITHM.md §4's recursion. Shapes: g (A,) -> dx (A_prev,) or None."""
    (w, r), pa = _weights(layer, params), prev.act if prev is not None else None
    dw, dr, dx = call(
        "rlif_backward_sparse", g, tape.act, tape.x, tape.s, w, r, layer.alpha_op, pa, tape.shape
    )
    return _grads(layer, dw, dr), dx


@dataclass(frozen=True)
class RLIF(HiddenLayer):
    """A recurrent LIF hidden layer (see the module docstring). R's default initialisation
    is W's scheme with fan_in = N (:func:`~spikegrad.layers.base.init_weight`)."""

    FORWARD = {None: forward_infer, "sparse": forward_sparse, "dense": forward_dense}  # noqa: RUF012
    BACKWARD = {SparseTape: backward_sparse, DenseTape: backward_dense}  # noqa: RUF012

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        return {f"W{self.index}": (self.n_in, self.n), f"R{self.index}": (self.n, self.n)}
