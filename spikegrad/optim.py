"""Adam over a dict of arrays (ALGORITHM.md §6); the update runs through the op registry.

Also: decoupled weight decay (AdamW), learning-rate schedules as functions of the update
number (so a run resumed at a saved Adam step resumes its schedule exactly) and clipping of
the global gradient norm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .backend import Array, call, get_xp, to_numpy
from .checks import check_betas, check_setting
from .errors import ConfigError, DTypeError, InputError, ShapeError, TrainingError

SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class LRSchedule:
    """The learning rate of update number ``step`` (1-based): ``schedule(step)``.

    ``kind``: "constant" (``lr``); "step" (``lr * gamma ** (epoch // step_epochs)``, epoch
    0-based, ``steps_per_epoch`` updates each); "cosine" (from ``lr`` down to ``lr_min`` over
    ``total_steps``, half a cosine). The first ``warmup_steps`` updates ramp linearly from
    ``lr / warmup_steps`` to ``lr``; cosine starts after them.
    """

    lr: float
    kind: str = "constant"
    steps_per_epoch: int = 1
    total_steps: int = 1
    step_epochs: int = 1
    gamma: float = 0.1
    lr_min: float = 0.0
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ConfigError(
                f"lr_schedule must be one of {', '.join(SCHEDULES)}; got {self.kind!r}"
            )
        if min(self.steps_per_epoch, self.total_steps, self.step_epochs) < 1:
            raise ConfigError(
                "LRSchedule: steps_per_epoch, total_steps, step_epochs must be >= 1; got "
                f"{self.steps_per_epoch}, {self.total_steps}, {self.step_epochs}"
            )

    def __call__(self, step: int) -> float:
        s = step - 1  # updates before this one
        if s < self.warmup_steps:
            return self.lr * (s + 1) / self.warmup_steps
        if self.kind == "step":
            return self.lr * self.gamma ** (s // self.steps_per_epoch // self.step_epochs)
        if self.kind == "cosine":
            frac = min((s - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 1)
            return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1 + math.cos(math.pi * frac))
        return self.lr


def clip_grad_norm(grads: Mapping[str, Array], max_norm: float) -> tuple[dict[str, Array], Array]:
    """``grads`` scaled by min(1, max_norm / (norm + 1e-6)), norm = the global L2 norm over
    all of them (summed in float64; torch.nn.utils.clip_grad_norm_'s rule), and that norm.

    Shapes: grads {name: any shape} -> the same shapes, norm () float64 on their device.
    """
    gs = list(grads.values())
    xp = get_xp(*gs)
    norm = xp.sqrt(sum(xp.sum(xp.square(g.astype(xp.float64))) for g in gs))
    coef = xp.minimum(max_norm / (norm + 1e-6), 1.0)
    return {k: g * coef.astype(g.dtype) for k, g in grads.items()}, norm


@dataclass(frozen=True)
class AdamParams:
    lr: float = 1e-3
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8


class Adam:
    """Adam with bias correction over ``params`` (a dict of arrays, updated in place).

    The dict itself is kept, so replacing an entry (``net.params["W1"] = ...``) is seen by
    the next step; moments are created lazily per key. ``weight_decay``: decoupled (AdamW,
    p *= 1 - lr * weight_decay each step); ``schedule``: the learning rate of each update
    number (e.g. an :class:`LRSchedule`; None: ``lr`` throughout); ``max_grad_norm`` > 0
    clips the global gradient norm first (:func:`clip_grad_norm`). After each update it calls
    ``params.updated()`` when the dict has it (a Network's parameter dict: the network then
    remakes its 16-bit weight copies, ``weight_dtype``).
    """

    def __init__(
        self,
        params: dict[str, Array],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        schedule: Callable[[int], float] | None = None,
        max_grad_norm: float = 0.0,
    ) -> None:
        lr = check_setting("lr", lr)
        betas = check_betas("betas", betas)
        eps = check_setting("eps", eps)
        weight_decay = check_setting("weight_decay", weight_decay)
        max_grad_norm = check_setting("max_grad_norm", max_grad_norm, "clip_grad_norm")
        self.weight_decay, self.max_grad_norm = float(weight_decay), float(max_grad_norm)
        self.schedule = schedule
        self.params = params
        self.hp = AdamParams(float(lr), float(betas[0]), float(betas[1]), float(eps))
        self.step_count = 0
        self.m: dict[str, Array] = {}
        self.v: dict[str, Array] = {}

    @property
    def lr(self) -> float:
        return self.hp.lr

    def lr_at(self, step: int) -> float:
        """The learning rate of update number ``step`` (1-based)."""
        return self.hp.lr if self.schedule is None else float(self.schedule(step))

    def step(self, grads: Mapping[str, Array], *, check_finite: bool = True) -> None:
        """One Adam update of every parameter; ``grads`` must hold one gradient per key.

        Everything is checked before anything changes: missing or unknown keys or a grad not
        on the parameters' backend (InputError), a shape (ShapeError) or dtype (DTypeError)
        other than the parameter's, or, with ``check_finite``, a NaN or infinite gradient
        (TrainingError) leave the parameters, the moments and the step count untouched. The
        finiteness check costs one reduction and, on a GPU, one device read per step; a loop
        that checks its loss and parameters itself (``train_epoch``) passes ``False``. Then
        the gradients are clipped to ``max_grad_norm`` (global norm) when it is set, and the
        update uses the scheduled learning rate and the decoupled weight decay.

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
        if self.max_grad_norm:
            clipped = clip_grad_norm(dict(zip(keys, gs, strict=True)), self.max_grad_norm)[0]
            gs = [clipped[k] for k in keys]
        self.step_count += 1
        hp = self.hp
        call(
            "adam_update_multi",
            ps,
            gs,
            [self.m[k] for k in keys],
            [self.v[k] for k in keys],
            self.step_count,
            self.lr_at(self.step_count),
            hp.b1,
            hp.b2,
            hp.eps,
            self.weight_decay,
        )
        updated = getattr(self.params, "updated", None)
        if updated is not None:
            updated()

    def state_dict(self) -> dict:
        """Moments and step count (arrays stay on their backend)."""
        return {"step": self.step_count, "m": dict(self.m), "v": dict(self.v), "hp": self.hp}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])
        self.m, self.v = dict(state["m"]), dict(state["v"])
