r"""Leaky readout, class scores and cross-entropy (ALGORITHM.md §2), xp-generic twins.

u[0] = 0,  u[t+1] = alpha_r u[t] + (1 - alpha_r) (S^L[t] @ W_out)
m = max_t u | sum_t u | u[T-1]           loss = mean_b -log softmax(m_b)[y_b]
"""

from __future__ import annotations

from ..backend import Array, call, get_xp

READOUTS = ("max", "sum", "last")


def readout_scores(u: Array, kind: str) -> tuple[Array, Array | None]:
    """Class scores from the readout trace.

    Shapes: u (T, B, K) -> m (B, K) and, for "max", the arg-max time (B, K) (else None).
    """
    if kind == "max":  # u.argmax(axis=0), faster (no strided search): first max, or first NaN
        m = u.max(axis=0)
        return m, ((u == m) | (u != u)).argmax(axis=0)
    if kind == "sum":
        return u.sum(axis=0), None
    return u[-1].copy(), None


def readout_scores_backward(dm: Array, arg: Array | None, kind: str, T: int) -> Array:
    """dL/du from dL/dm. Shapes: dm (B, K) -> du (T + 1, B, K), row T kept zero for the scan."""
    xp = get_xp(dm)
    du = xp.zeros((T + 1, *dm.shape), dtype=dm.dtype)
    if kind == "max":
        B, K = dm.shape
        du[arg, xp.arange(B)[:, None], xp.arange(K)[None, :]] = dm
    elif kind == "sum":
        du[:T] = dm
    else:
        du[T - 1] = dm
    return du


def readout_filter_backward(du: Array, alpha_r: float) -> Array:
    """In place: the alpha_r filter's adjoint G[t] = du[t] + alpha_r G[t+1], G[T] = 0.

    Then dL/d(S^L[t] @ W_out) = (1 - alpha_r) G[t + 1]. Shapes: du (T + 1, B, K).
    """
    return call("leaky_scan_reverse", du, alpha_r)


def cross_entropy(m: Array, y: Array) -> tuple[Array, Array]:
    """Mean cross-entropy of scores m and labels y, and its gradient.

    Shapes: m (B, K) float, y (B,) int -> loss () float, dm (B, K).
    """
    xp = get_xp(m)
    B = m.shape[0]
    z = m - m.max(axis=1, keepdims=True)
    lse = xp.log(xp.exp(z).sum(axis=1))
    rows = xp.arange(B)
    loss = (lse - z[rows, y]).mean()
    dm = xp.exp(z - lse[:, None])
    dm[rows, y] -= 1
    dm /= B
    return loss, dm
