"""The leaky scans' kernels behind the twins' signatures: the native C wrappers (``cpu.h``)
and the CUDA host code (``readout.cu``). Each runs the twin's check first; the native ones
hand a dtype or layout the kernels lack to the twin.
"""

from __future__ import annotations

import numpy as np

from ... import kernels, native
from ...backend import Array, get_xp
from ...kernels.host import Launcher, columns, cuda_op, in_array, out_array, run
from ..common import alpha_vector, contiguous, in_place, last_axis, native_op, ptr, rows, supported
from . import twin
from .twin import check_leaky_scan_reverse

native.c_family(
    __file__,
    typed=("cpu.h",),
    typed_functions={
        "leaky_scan_reverse": ("void", "p i64 i64 p i64"),
        "leaky_scan": ("void", "p p i64 i64 F F"),
        "time_max": ("void", "p i64 i64 p p"),
    },
)
kernels.add_module(
    "readout",
    __file__,
    {
        "leaky_scan_kernel": ("T",),
        "leaky_scan_reverse_kernel": ("T",),
        "leaky_scan_reduce_kernel": ("T",),
        "leaky_scan_carry_kernel": ("T",),
        "leaky_scan_chunk_kernel": ("T",),
        "leaky_scan_reverse_reduce_kernel": ("T",),
        "leaky_scan_reverse_chunk_kernel": ("T",),
    },
)


# ---------------------------------------------------------------------------- native C
@native_op("leaky_scan_reverse", twin.leaky_scan_reverse, lambda e, alpha: in_place(e))
def leaky_scan_reverse(e: Array, alpha: float | Array) -> Array:
    """See :func:`spikegrad.ops.readout.leaky_scan_reverse` (in place; its denormal policy)."""
    check_leaky_scan_reverse(e, alpha)
    a = alpha_vector(alpha, e, last_axis(e))
    native.function("leaky_scan_reverse", e.dtype)(ptr(e), *rows(e), ptr(a), a.size)
    return e


@native_op("leaky_scan", twin.leaky_scan, lambda x, *_: supported(x) and x.ndim > 0)
def leaky_scan(x: Array, alpha: float, gain: float) -> Array:
    """See :func:`spikegrad.ops.readout.leaky_scan`."""
    x = contiguous(x)
    y = np.empty_like(x)
    ft = x.dtype.type
    native.function("leaky_scan", x.dtype)(ptr(x), ptr(y), *rows(x), ft(alpha), ft(gain))
    return y


@native_op("time_max", twin.time_max, lambda u: supported(u) and u.ndim > 0 and u.shape[0] > 0)
def time_max(u: Array) -> tuple[Array, Array]:
    """See :func:`spikegrad.ops.readout.twin.time_max`."""
    u = contiguous(u)
    mx, arg = np.empty(u.shape[1:], dtype=u.dtype), np.empty(u.shape[1:], dtype=np.int64)
    native.function("time_max", u.dtype)(ptr(u), *rows(u), ptr(mx), ptr(arg))
    return mx, arg


# ------------------------------------------------------------------------- CUDA host
SCAN_FILL_COLUMNS = 1 << 16  # columns that fill the device alone: one thread per column
SCAN_MIN_CHUNK = 16  # steps per chunk of the chunked scans, at least


def scan_chunk(n_t: int, n_col: int) -> int:
    """Steps per chunk of the chunked leaky scans, or 0 for the one-thread-per-column scheme.

    Chunks are cut when the columns alone leave the device idle (n_col < SCAN_FILL_COLUMNS):
    enough chunks to bring the threads to about SCAN_FILL_COLUMNS, none shorter than
    SCAN_MIN_CHUNK steps.
    """
    if n_col == 0 or n_col >= SCAN_FILL_COLUMNS:
        return 0
    n_chunk = min(n_t // SCAN_MIN_CHUNK, -(-SCAN_FILL_COLUMNS // n_col))
    return -(-n_t // n_chunk) if n_chunk >= 2 else 0


def _scan_power(dt: np.dtype, alpha: float, steps: int) -> np.generic:
    """alpha^steps of the dtype-rounded alpha, rounded once to the dtype."""
    return dt.type(float(dt.type(alpha)) ** steps)


@cuda_op("leaky_scan")
def cuda_leaky_scan(launch: Launcher, x: Array, alpha: float, gain: float) -> Array:
    """``y[0] = 0, y[t+1] = alpha y[t] + gain x[t]``. Shapes: x (T, ...) -> y (T, ...).

    Few columns and many steps (:func:`scan_chunk`): the chunked scan of readout.cu. Its first
    chunk is bitwise the twin; a later output y[t] starts its chunk from a reassociated state,
    so to first order in the unit roundoff u (2**-24 float32, 2**-53 float64)
    ``|y[t] - y_twin[t]| <= (4 t + 6) u sum_{s<t} |alpha|^(t-1-s) |gain x[s]|``.
    """
    x = in_array("x", x)
    dt = x.dtype
    xp = get_xp(x)
    n_t, n_col = columns(x)
    y = xp.empty_like(x)
    a, g = dt.type(alpha), dt.type(gain)
    steps = scan_chunk(int(n_t), int(n_col))
    if not steps:
        args = (x, y, n_t, n_col, a, g)
        run(launch, "readout", "leaky_scan_kernel", kernels.template_args(dt), int(n_col), args)
        return y
    n_chunk = -(-int(n_t) // steps)
    r = xp.empty((n_chunk - 1, int(n_col)), dtype=dt)
    ln, n_red = np.int64(steps), np.int64(n_chunk - 1)
    targs = kernels.template_args(dt)
    run(
        launch, "readout", "leaky_scan_reduce_kernel", targs, r.size, (x, n_col, ln, n_red, a, g, r)
    )
    args = (r, n_red, n_col, _scan_power(dt, alpha, steps))
    run(launch, "readout", "leaky_scan_carry_kernel", targs, int(n_col), args)
    args = (x, r, y, n_t, n_col, ln, a, g)
    run(launch, "readout", "leaky_scan_chunk_kernel", targs, n_chunk * int(n_col), args)
    return y


@cuda_op("leaky_scan_reverse")
def cuda_leaky_scan_reverse(launch: Launcher, e: Array, alpha: float | Array) -> Array:
    """In place: ``e[t] += alpha * e[t+1]`` from the end backwards. Shapes: e (T', ...); alpha
    float or (N,) broadcast along e's last axis.

    The twin's denormal policy (:func:`spikegrad.ops.readout.leaky_scan_reverse`). A per-neuron
    alpha takes the column scheme (bitwise the twin). One float, few columns and many steps
    (:func:`scan_chunk`): the chunked scan of readout.cu, chunks counted from the
    end; its first chunk (the last rows) is bitwise the twin, and to first order in u
    ``|e[t] - e_twin[t]| <= (4 (T'-t) + 6) u sum_{s>=t} |alpha|^(s-t) |e_in[s]|
    + 2 tiny / (1 - |alpha|)`` (the last term: flushes taken on one side only).
    """
    check_leaky_scan_reverse(e, alpha)
    dt = out_array("e", e)
    xp = get_xp(e)
    n_t, n_col = columns(e)
    steps = scan_chunk(int(n_t), int(n_col)) if np.ndim(alpha) == 0 else 0
    targs = kernels.template_args(dt)
    if not steps:
        av = alpha_vector(alpha, e, e.shape[-1])
        args = (e, n_t, n_col, av, np.int64(av.size))
        run(launch, "readout", "leaky_scan_reverse_kernel", targs, int(n_col), args)
        return e
    a = dt.type(alpha)
    n_chunk = -(-int(n_t) // steps)
    r = xp.empty((n_chunk - 1, int(n_col)), dtype=dt)
    ln, n_red = np.int64(steps), np.int64(n_chunk - 1)
    args = (e, n_t, n_col, ln, n_red, a, r)
    run(launch, "readout", "leaky_scan_reverse_reduce_kernel", targs, r.size, args)
    args = (r, n_red, n_col, _scan_power(dt, alpha, steps))
    run(launch, "readout", "leaky_scan_carry_kernel", targs, int(n_col), args)
    args = (e, r, n_t, n_col, ln, a)
    run(launch, "readout", "leaky_scan_reverse_chunk_kernel", targs, n_chunk * int(n_col), args)
    return e
