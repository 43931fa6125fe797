"""Clocks and the timed step shared by the CPU and GPU reports.

A clock has ``mark()`` (a point in time: a ``perf_counter`` value, or a recorded CUDA event)
and ``elapsed(a, b)`` (seconds from mark ``a`` to mark ``b``, waiting for ``b`` if needed).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from ..network import Network
from ..optim import Adam
from . import hooks


class WallClock:
    """Host wall clock (``time.perf_counter``); ``sync`` runs before every mark."""

    def __init__(self, sync: Callable[[], Any] | None = None) -> None:
        self.sync = sync

    def mark(self) -> float:
        if self.sync is not None:
            self.sync()
        return time.perf_counter()

    def elapsed(self, a: float, b: float) -> float:
        return b - a


class CupyClock:
    """CUDA events on CuPy's current stream."""

    def __init__(self) -> None:
        import cupy

        self.cupy = cupy

    def mark(self) -> Any:
        ev = self.cupy.cuda.Event()
        ev.record()
        return ev

    def elapsed(self, a: Any, b: Any) -> float:
        b.synchronize()
        return self.cupy.cuda.get_elapsed_time(a, b) * 1e-3


def device_sync(net: Network) -> Callable[[], None] | None:
    """A function that waits for ``net``'s device (None on the host backend)."""
    if net.backend.name == "numpy":
        return None
    return net.backend.xp.cuda.Device().synchronize


def median_time(fn: Callable[[], Any], clock: Any, warmup: int, repeats: int) -> float:
    """Median seconds of ``fn()`` by ``clock`` over ``repeats`` calls after ``warmup`` calls."""
    pairs = []
    for i in range(warmup + repeats):
        a = clock.mark()
        fn()
        b = clock.mark()
        if i >= warmup:
            pairs.append((a, b))
    return statistics.median(clock.elapsed(a, b) for a, b in pairs)


def time_mode(
    net: Network, x: Any, y: Any, mode: str, clock: Any, warmup: int, repeats: int
) -> dict[str, Any]:
    """Medians of forward, backward and whole step (``loss_and_grad`` + Adam) of one mode,
    and the bytes it keeps from the forward for the backward. Parameters are restored after.

    Returns forward_s, backward_s, step_s, retained_bytes.
    """
    saved = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(net.params, lr=1e-6)
    steps, stats = [], {}
    with hooks.backward_marks(net, clock) as marks:
        for i in range(warmup + repeats):
            start = clock.mark()
            _, g, stats = net.loss_and_grad(x, y, mode=mode)
            opt.step(g)
            end = clock.mark()
            if i >= warmup:
                steps.append((start, end))
    net.params.update(saved)
    bwd = marks[warmup:]
    return {
        "forward_s": statistics.median(
            clock.elapsed(s[0], b[0]) for s, b in zip(steps, bwd, strict=True)
        ),
        "backward_s": statistics.median(clock.elapsed(*b) for b in bwd),
        "step_s": statistics.median(clock.elapsed(*s) for s in steps),
        "retained_bytes": int(stats["retained_bytes"]),
    }
