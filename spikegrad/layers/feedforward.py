r"""Feed-forward hidden layers of any neuron kind (ALGORITHM.md §2 and §4): parameter "W{l}".

    h[t] = x[t] @ W,   the kind's step on h[t];   dW = sum_t x[t]^T dL/dh[t]

The layer calls its kind's ops (``kind.OPS[False]``; LIF: ``lif_forward_sparse_spikes`` for
the sparse mode and inference, the current made inside the scan; ``lif_forward`` for the
dense mode; ``lif_backward_dense``, ``lif_backward_sparse``) with the kind's constants.
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
    """W{l} (N_in, N)."""
    return {f"W{layer.index}": (layer.n_in, layer.n)}


def _scan_sparse(layer: HiddenLayer, params: dict, x: Signal, b_th: float):
    xs, w = x.spikes, params[f"W{layer.index}"]
    p = (*layer.fwd, layer.beta_s, b_th)
    keys, act = call(layer.ops.forward_sparse_spikes, xs.indptr, xs.indices, w, *p, (xs.T, xs.B))
    shape = (xs.T, xs.B, layer.n)
    return spikes_signal(get_xp(w), keys, shape), act, shape


def forward_infer(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, None]:
    """Inference: the spikes only (b_th = 0: no active set is made)."""
    return _scan_sparse(layer, params, x, 0.0)[0], None


def forward_sparse(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, SparseTape]:
    """Sparse mode: spikes as events; the tape keeps the input events and the active set."""
    out, act, shape = _scan_sparse(layer, params, x, layer.b_th)
    return out, sparse_tape(layer, x, act, shape, None)


def forward_dense(layer: HiddenLayer, params: dict, x: Signal) -> tuple[Signal, DenseTape]:
    """Dense mode: h = x @ W as one product, then the scan; the tape keeps the dense input
    and the masked surrogate."""
    w = params[f"W{layer.index}"]
    T, B = x.spikes.T, x.spikes.B
    h = get_xp(w).ascontiguousarray(x.matmul(w).reshape(T, B, layer.n), dtype=compute_dtype(w))
    s = call(layer.ops.forward, h, *layer.fwd)  # h now holds the kind's record (LIF: V)
    return dense_signal(s, h.dtype), dense_tape(layer, x, h, None)


def backward_dense(
    layer: HiddenLayer, params: dict, tape: DenseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """Plain BPTT. Shapes: g (T, B, N) -> dx (T, B, N_in) or None."""
    w = params[f"W{layer.index}"]
    dw, dx = call(layer.ops.backward_dense, g, tape.sp, tape.x, w, *layer.adj, prev is not None)
    return {f"W{layer.index}": dw}, dx


def backward_sparse(
    layer: HiddenLayer, params: dict, tape: SparseTape, g: Array, prev: Tape | None
) -> tuple[dict[str, Array], Array | None]:
    """S3GD. Shapes: g (A,) -> dx (A_prev,) at ``prev``'s active entries, or None."""
    w, pa = params[f"W{layer.index}"], prev.act if prev is not None else None
    op = layer.ops.backward_sparse
    dw, dx = call(op, g, tape.act, tape.x, w, *layer.adj, pa, tape.shape)
    return {f"W{layer.index}": dw}, dx


FORWARD = {None: forward_infer, "sparse": forward_sparse, "dense": forward_dense}
BACKWARD = {SparseTape: backward_sparse, DenseTape: backward_dense}
