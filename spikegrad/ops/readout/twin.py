r"""Leaky readout, class scores and cross-entropy (ALGORITHM.md §2), xp-generic twins, and the
leaky scans (NumPy twins) of the readout filter and of the hidden layers' eps filter.

u[0] = 0,  u[t+1] = alpha_r u[t] + (1 - alpha_r) (S^L[t] @ W_out)
m = max_t u | sum_t u | u[T-1]           loss = mean_b -log softmax(m_b)[y_b]
"""

from __future__ import annotations

import numpy as np

from ...backend import Array, call, get_xp, register
from ..common import check_alpha
from ..lif.twin import as_alpha

READOUTS = ("max", "sum", "last")


def readout_scores(u: Array, kind: str) -> tuple[Array, Array | None]:
    """Class scores from the readout trace.

    Shapes: u (T, B, K) -> m (B, K) and, for "max", the arg-max time (B, K) (else None).
    """
    if kind == "max":
        return call("time_max", u)
    if kind == "sum":
        return u.sum(axis=0), None
    return u[-1].copy(), None


@register("time_max", "numpy", xp_generic=True)
def time_max(u: Array) -> tuple[Array, Array]:
    """The maximum over the first axis and the first step that holds it: arg the first t where
    u[t] is the maximum or NaN (u.argmax(axis=0), without its strided search), m = u[arg].

    Shapes: u (T, ...) with T >= 1 -> m, arg (...) (arg int64)."""
    xp = get_xp(u)
    arg = ((u == u.max(axis=0)) | (u != u)).argmax(axis=0)
    return xp.take_along_axis(u, arg[None], axis=0)[0], arg


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


def check_leaky_scan_reverse(e: Array, alpha: float | Array) -> None:
    """The checks of ``leaky_scan_reverse`` (every backend): alpha one float or one value per
    entry of e's last axis."""
    check_alpha(alpha, e.shape[-1] if e.ndim > 1 else 1)


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
    check_leaky_scan_reverse(e, alpha)
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
