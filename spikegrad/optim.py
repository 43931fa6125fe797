"""Adam over a dict of arrays (ALGORITHM.md §6); the update runs through the op registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .backend import Array, call, get_xp
from .errors import ConfigError, ShapeError


@dataclass(frozen=True)
class AdamParams:
    lr: float = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8


class Adam:
    """Adam with bias correction over ``params`` (a dict of arrays, updated in place).

    The dict itself is kept, so replacing an entry (``net.params["W1"] = ...``) is seen by
    the next step; moments are created lazily per key.
    """

    def __init__(
        self,
        params: dict[str, Array],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr > 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1) or not eps > 0:
            raise ConfigError(
                f"Adam: need lr > 0, 0 <= betas < 1, eps > 0; got {lr}, {betas}, {eps}"
            )
        self.params = params
        self.hp = AdamParams(float(lr), float(betas[0]), float(betas[1]), float(eps))
        self.step_count = 0
        self.m: dict[str, Array] = {}
        self.v: dict[str, Array] = {}

    @property
    def lr(self) -> float:
        return self.hp.lr

    def step(self, grads: Mapping[str, Array]) -> None:
        """One Adam update of every parameter that has a gradient in ``grads``."""
        self.step_count += 1
        hp = self.hp
        for k, g in grads.items():
            p = self.params[k]
            if g.shape != p.shape:
                raise ShapeError(f"Adam: grad {k!r} has shape {g.shape}, param {p.shape}")
            if k not in self.m:
                xp = get_xp(p)
                self.m[k], self.v[k] = xp.zeros_like(p), xp.zeros_like(p)
        keys = list(grads)
        ps = [self.params[k] for k in keys]
        call(
            "adam_update_multi",
            ps,
            [grads[k] for k in keys],
            [self.m[k] for k in keys],
            [self.v[k] for k in keys],
            self.step_count,
            hp.lr,
            hp.b1,
            hp.b2,
            hp.eps,
        )

    def state_dict(self) -> dict:
        """Moments and step count (arrays stay on their backend)."""
        return {"step": self.step_count, "m": dict(self.m), "v": dict(self.v), "hp": self.hp}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])
        self.m, self.v = dict(state["m"]), dict(state["v"])
