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

from ...backend import Array, register
from ...neurons import lif as kind
from ...spikes import SpikeMatrix
from .. import kind_twin as twin
from ..lif.twin import check_spike_backward, check_spike_forward
from ..surrogate import ActiveSet


@register("rlif_forward", "numpy", xp_generic=True)
def rlif_forward(h: Array, r: Array, alpha: float | Array, theta: float) -> Array:
    """The dense mode's recurrent scan (S[t] @ R as one product per step); **overwrites h with
    V**, returns the spikes.

    Shapes: h (T, B, N) float (in: the feed-forward current, out: V); r (N, N); alpha float
    or (N,). Returns s (T, B, N) bool.
    """
    return twin.forward_dense(kind, h, r, (alpha, theta))


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
    return twin.forward_sparse_spikes(kind, indptr, indices, w, r, (alpha, theta), beta_s, b_th, tb)


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
    return twin.backward_dense(kind, g, sp, x, s, w, r, (alpha,), need_dx)


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
    return twin.backward_sparse(kind, g, act, x, s, w, r, (alpha,), prev, shape)
