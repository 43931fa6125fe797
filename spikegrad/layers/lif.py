r"""Feed-forward LIF layer (ALGORITHM.md §2 and §4): parameter "W{l}" (N_in, N).

    V[0] = 0,   S[t] = V[t] > theta,   V[t+1] = alpha V[t] + x[t] @ W - theta S[t]
    delta[t] = g[t] sigma'(V[t]),   eps[t] = delta[t] + alpha eps[t+1],   dW = sum_t x[t]^T eps[t+1]

alpha is one float or one value per neuron. Ops: ``lif_forward_sparse_spikes`` (sparse mode
and inference: the current is made inside the scan), ``lif_forward`` (dense mode),
``lif_backward_dense`` and ``lif_backward_sparse``.
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


def _scan_sparse(layer: LIF, params: dict, x: Signal, b_th: float):
    xs, w = x.spikes, params[f"W{layer.index}"]
    p = (layer.alpha_op, layer.theta, layer.beta_s, b_th)
    keys, act = call("lif_forward_sparse_spikes", xs.indptr, xs.indices, w, *p, (xs.T, xs.B))
    shape = (xs.T, xs.B, layer.n)
    return spikes_signal(get_xp(w), keys, shape), act, shape


def forward_infer(layer: LIF, params: dict, x: Signal) -> tuple[Signal, None]:
    """Inference: the spikes only (b_th = 0: no active set is made)."""
    return _scan_sparse(layer, params, x, 0.0)[0], None


def forward_sparse(layer: LIF, params: dict, x: Signal) -> tuple[Signal, SparseTape]:
    """Sparse mode: spikes as events; the tape keeps the input events and the active set."""
    out, act, shape = _scan_sparse(layer, params, x, layer.b_th)
    return out, sparse_tape(layer, x, act, shape, None)


def forward_dense(layer: LIF, params: dict, x: Signal) -> tuple[Signal, DenseTape]:
    """Dense mode: h = x @ W as one product, then the scan; the tape keeps the dense input
    and the masked surrogate."""
    w = params[f"W{layer.index}"]
    T, B = x.spikes.T, x.spikes.B
    h = get_xp(w).ascontiguousarray(x.matmul(w).reshape(T, B, layer.n), dtype=w.dtype)
    s = call("lif_forward", h, layer.alpha_op, layer.theta)  # h now holds V
    return dense_signal(s, w.dtype), dense_tape(layer, x, h, None)


def backward_dense(
    layer: LIF, params: dict, tape: DenseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """Plain BPTT. Shapes: g (T, B, N) -> dx (T, B, N_in) or None."""
    w = params[f"W{layer.index}"]
    dw, dx = call("lif_backward_dense", g, tape.sp, tape.x, w, layer.alpha_op, prev is not None)
    return {f"W{layer.index}": dw}, dx


def backward_sparse(
    layer: LIF, params: dict, tape: SparseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """S3GD. Shapes: g (A,) -> dx (A_prev,) at ``prev``'s active entries, or None."""
    w, pa = params[f"W{layer.index}"], prev.act if prev is not None else None
    dw, dx = call("lif_backward_sparse", g, tape.act, tape.x, w, layer.alpha_op, pa, tape.shape)
    return {f"W{layer.index}": dw}, dx


@dataclass(frozen=True)
class LIF(HiddenLayer):
    """A feed-forward LIF hidden layer (see the module docstring)."""

    FORWARD = {None: forward_infer, "sparse": forward_sparse, "dense": forward_dense}  # noqa: RUF012
    BACKWARD = {SparseTape: backward_sparse, DenseTape: backward_dense}  # noqa: RUF012

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        return {f"W{self.index}": (self.n_in, self.n)}
