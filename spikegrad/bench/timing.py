"""Clocks and the timed step shared by the CPU and GPU reports.

Also :func:`peak_rss`: the peak growth of the process's resident memory during one call.

A clock has ``mark()`` (a point in time: a ``perf_counter`` value, or a recorded CUDA event)
and ``elapsed(a, b)`` (seconds from mark ``a`` to mark ``b``, waiting for ``b`` if needed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import cache
from typing import Any

from ..network import Network
from ..optim import Adam


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
    net: Network,
    x: Any,
    y: Any,
    mode: str,
    clock: Any,
    warmup: int,
    repeats: int,
    peak: bool = False,
) -> dict[str, Any]:
    """Medians of forward, backward and whole step (``loss_and_grad`` + Adam) of one mode,
    and the bytes it keeps from the forward for the backward. Parameters are restored after.

    The whole step is timed by ``clock``; forward and backward are ``loss_and_grad``'s own
    ``timing=True`` figures (CUDA events on CuPy, ``perf_counter`` on NumPy), read after the
    last step so that no step waits for the device on their account.

    Returns forward_s, backward_s, step_s, retained_bytes, and with ``peak`` peak_bytes (the
    host RSS growth of one more step, :func:`peak_rss`).
    """
    saved = {k: v.copy() for k, v in net.params.items()}
    opt = Adam(net.params, lr=1e-6)
    steps, timed = [], []

    def step() -> Any:
        _, g, stats = net.loss_and_grad(x, y, mode=mode, timing=True)
        opt.step(g, check_finite=False)  # as train_epoch: no device read
        return stats

    for i in range(warmup + repeats):
        start = clock.mark()
        stats = step()
        end = clock.mark()
        if i >= warmup:
            steps.append((start, end))
            timed.append(stats)
    extra = {"peak_bytes": peak_rss(step)[0]} if peak else {}
    net.params.update(saved)
    return {
        "forward_s": statistics.median(st["forward_s"] for st in timed),
        "backward_s": statistics.median(st["backward_s"] for st in timed),
        "step_s": statistics.median(clock.elapsed(*s) for s in steps),
        "retained_bytes": int(timed[-1]["retained_bytes"]),
        **extra,
    }


def _status_kb(*names: str) -> tuple[int, ...]:
    """``kB`` fields of one read of ``/proc/self/status`` (VmRSS, VmHWM), in ``names``' order."""
    with open("/proc/self/status") as f:
        found = {ln.split(":")[0]: int(ln.split()[1]) for ln in f if ln.startswith(names)}
    return tuple(found[n] for n in names)


@cache
def _malloc_trim() -> Callable[[int], Any] | None:
    """glibc's ``malloc_trim`` (returns freed heap pages to the system), else None."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def _reset_hwm() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        hwm_before, rss_before = _status_kb("VmHWM", "VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        hwm, rss = _status_kb("VmHWM", "VmRSS")
        # the reset took effect: the peak fell, or it sits at the RSS of around the reset
        # (other threads may allocate or free meanwhile, so within 1 MB)
        return hwm < hwm_before or hwm <= max(rss, rss_before) + 1024
    except (OSError, KeyError, ValueError):
        return False


def peak_rss(fn: Callable[[], Any], method: str = "auto") -> tuple[int | None, str]:
    """Peak growth in bytes of resident memory while ``fn()`` runs, and how it was measured.

    ``"rss"`` (Linux): garbage-collect, hand freed heap pages back (glibc ``malloc_trim``),
    reset VmHWM, run, then VmHWM - VmRSS before: every page the call touches beyond what the
    process already held, whoever allocated it (NumPy, torch, native kernels, OpenMP).
    ``"tracemalloc"``: the peak of Python-tracked allocations over those before the call
    (NumPy's arrays are tracked, torch's tensors and native buffers are not).
    ``"auto"``: rss where it works, else tracemalloc. Memory that already exists before the call
    (parameters, optimiser state, buffers a step reuses) is not in the figure.
    Returns (None, "none") if ``fn`` cannot be measured that way.
    """
    gc.collect()
    if method in ("auto", "rss") and sys.platform.startswith("linux"):
        if (trim := _malloc_trim()) is not None:
            trim(0)
        if _reset_hwm():
            (base,) = _status_kb("VmRSS")
            fn()
            return max(_status_kb("VmHWM")[0] - base, 0) * 1024, "rss"
    if method in ("auto", "tracemalloc"):
        started = not tracemalloc.is_tracing()
        if started:
            tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            fn()
            return tracemalloc.get_traced_memory()[1] - base, "tracemalloc"
        finally:
            if started:
                tracemalloc.stop()
    return None, "none"
