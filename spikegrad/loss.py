r"""The spike-count regulariser (ALGORITHM.md §2) and its gradient w.r.t. the spikes.

For a hidden layer with N neurons and spike counts c[b, j] = sum_t S[b, t, j]:

    L_up(b)  = lambda_up * max(0, (1/N) sum_j c[b, j] - f_up) ** p_up
    L_low(b) = (lambda_low / N) * sum_j max(0, f_low - c[b, j]) ** 2
    L_reg    = mean_b [L_up(b) + L_low(b)]

The gradient dL_reg/dS[b, t, j] does not depend on t, so it is returned as a (B, N) array.
At the kink r = (1/N) sum_j c[b, j] - f_up = 0 exactly, dL_up/dr is the reference code's
(``clamp(r, min=0) ** p_up``): lambda_up for p_up = 1, else 0 (finite where p_up < 1). The
lower term's derivative at its kink c = f_low is 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .backend import Array, get_xp
from .errors import ConfigError


@dataclass(frozen=True)
class RegParams:
    """Regulariser constants; the defaults are the paper's (f_up = 10 for SHD)."""

    lambda_up: float = 0.06
    f_up: float = 1.0
    p_up: float = 1.0
    lambda_low: float = 100.0
    f_low: float = 1e-3

    @classmethod
    def from_dict(cls, d: dict[str, Any] | RegParams | None) -> RegParams | None:
        """None, a RegParams, or a dict with any of its keys (others keep defaults)."""
        if d is None or isinstance(d, RegParams):
            return d
        if not isinstance(d, dict):
            raise ConfigError(f"reg must be None or a dict; got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        bad = set(d) - known
        if bad:
            raise ConfigError(f"reg: unknown keys {sorted(bad)}; known: {sorted(known)}")
        p = cls(**{k: float(v) for k, v in d.items()})
        if p.p_up <= 0:
            raise ConfigError(f"reg: p_up must be > 0; got {p.p_up}")
        return p

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def spike_count_reg(counts: Array, p: RegParams, dtype: Any) -> tuple[Array, Array]:
    """Regulariser value (mean over the batch) and dL/dS per (b, j).

    Shapes: counts (B, N) int -> loss () float, grad (B, N) float.
    """
    xp = get_xp(counts)
    B, N = counts.shape
    c = counts.astype(dtype)
    r = c.sum(axis=1) / N - p.f_up
    over = xp.maximum(r, 0)
    low = xp.maximum(p.f_low - c, 0)
    loss = (p.lambda_up * over**p.p_up + (p.lambda_low / N) * (low**2).sum(axis=1)).mean()
    safe = xp.where(r > 0, over, 1)
    on = r >= 0 if p.p_up == 1 else r > 0  # the kink r = 0: ALGORITHM.md §2
    d_up = xp.where(on, p.lambda_up * p.p_up * safe ** (p.p_up - 1) / N, 0)
    grad = (d_up[:, None] - (2 * p.lambda_low / N) * low) / B
    return loss, grad.astype(dtype, copy=False)
