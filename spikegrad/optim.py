"""Adam over a dict of arrays (ALGORITHM.md §6); the update runs through the op registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .backend import Array, call, get_xp, to_numpy
from .checks import check_betas, check_float
from .errors import DTypeError, InputError, ShapeError, TrainingError


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
        lr = check_float("lr", lr, 0, lo_open=True)
        betas = check_betas("betas", betas)
        eps = check_float("eps", eps, 0, lo_open=True)
        self.params = params
        self.hp = AdamParams(float(lr), float(betas[0]), float(betas[1]), float(eps))
        self.step_count = 0
        self.m: dict[str, Array] = {}
        self.v: dict[str, Array] = {}

    @property
    def lr(self) -> float:
        return self.hp.lr

    def step(self, grads: Mapping[str, Array], *, check_finite: bool = True) -> None:
        """One Adam update of every parameter; ``grads`` must hold one gradient per key.

        Everything is checked before anything changes: missing or unknown keys or a grad not
        on the parameters' backend (InputError), a shape (ShapeError) or dtype (DTypeError)
        other than the parameter's, or, with ``check_finite``, a NaN or infinite gradient
        (TrainingError) leave the parameters, the moments and the step count untouched. The
        finiteness check costs one reduction and, on a GPU, one device read per step; a loop
        that checks its loss and parameters itself (``train_epoch``) passes ``False``.

        Shapes: grads[k] the shape of params[k].
        """
        keys = list(self.params)
        if set(grads) != set(keys):
            missing, unknown = sorted(set(keys) - set(grads)), sorted(set(grads) - set(keys))
            raise InputError(
                f"Adam.step: grads must have the parameters' keys {sorted(keys)}; "
                f"missing {missing}, unknown {unknown}"
            )
        ps, gs = [self.params[k] for k in keys], [grads[k] for k in keys]
        xp = get_xp(*ps)
        for k, p, g in zip(keys, ps, gs, strict=True):
            if get_xp(g) is not xp or not hasattr(g, "dtype"):
                raise InputError(f"Adam: grad {k!r} must be an array of the parameters' backend")
            if g.shape != p.shape:
                raise ShapeError(f"Adam: grad {k!r} has shape {g.shape}, param {p.shape}")
            if g.dtype != p.dtype:
                raise DTypeError(f"Adam: grad {k!r} has dtype {g.dtype}, param {p.dtype}")
        if check_finite:
            sums = xp.stack([g.sum(dtype=xp.float64) for g in gs])  # NaN and inf survive a sum
            finite = to_numpy(xp.isfinite(sums))
            if not finite.all():
                raise TrainingError(
                    f"Adam.step: gradient {keys[int(np.argmin(finite))]!r} holds NaN or "
                    "infinite values; parameters and moments left unchanged"
                )
        for k, p in zip(keys, ps, strict=True):
            if k not in self.m:
                self.m[k], self.v[k] = xp.zeros_like(p), xp.zeros_like(p)
        self.step_count += 1
        hp = self.hp
        call(
            "adam_update_multi",
            ps,
            gs,
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
