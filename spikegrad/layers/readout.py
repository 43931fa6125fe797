r"""The leaky readout and its class scores (ALGORITHM.md §2 and §4): parameter "W_out" (N_L, K).

    u[0] = 0,   u[t+1] = alpha_r u[t] + (1 - alpha_r) S^L[t] @ W_out
    m = max_t u | sum_t u | u[T-1]
    dW_out = (1 - alpha_r) sum_t S^L[t]^T G[t+1],   dL/dS^L[t] = (1 - alpha_r) G[t+1] @ W_out^T

with G the alpha_r filter's adjoint of dL/du. Dense and small (B, T, K) in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backend import Array, call, get_xp
from ..ops.half import compute_dtype
from ..ops.readout import readout_filter_backward, readout_scores, readout_scores_backward
from .base import Signal, init_weight


@dataclass(frozen=True)
class Readout:
    """Parameter record of the readout.

    init_alpha: the decay in W_out's "normal" initialisation (the hidden alpha, as the paper's
    code; see :class:`~spikegrad.network.Network`).
    """

    n_in: int
    k: int
    alpha_out: float
    kind: str
    init_alpha: float

    def param_shapes(self) -> dict[str, tuple[int, int]]:
        return {"W_out": (self.n_in, self.k)}

    def init(self, rng: np.random.Generator, scheme: str) -> dict[str, np.ndarray]:
        return {"W_out": init_weight(rng, scheme, self.n_in, self.k, self.init_alpha)}

    def forward(self, params: dict[str, Array], x: Signal) -> tuple[Array, Array | None]:
        """Class scores and, for "max", the arg-max time. Shapes: -> m (B, K), arg (B, K)."""
        w = params["W_out"]
        T, B = x.spikes.T, x.spikes.B
        hr = get_xp(w).ascontiguousarray(x.matmul(w).reshape(T, B, -1), dtype=compute_dtype(w))
        u = call("leaky_scan", hr, self.alpha_out, 1 - self.alpha_out)
        return readout_scores(u, self.kind)

    def backward(
        self, dm: Array, arg: Array | None, x: Signal, T: int
    ) -> tuple[dict[str, Array], Array]:
        """dW_out and dy = dL/d(S^L @ W_out) from dm = dL/dm (the last hidden layer's tape
        turns dy into its dL/dS). Shapes: dm (B, K) -> dy (T * B, K)."""
        du = readout_scores_backward(dm, arg, self.kind, T)
        readout_filter_backward(du, self.alpha_out)
        dy = du[1:].reshape(T * dm.shape[0], -1) * dm.dtype.type(1 - self.alpha_out)
        return {"W_out": x.tmatmul(dy)}, dy
