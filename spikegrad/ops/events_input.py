"""Spike events and sorted flat keys to the engine's time-major CSR spike pattern (ops
``events_to_csr`` and ``keys_to_csr``).

The twin (NumPy, xp-generic: on CuPy arrays it runs there) places events already sorted by
(b, t, i) without repeats in O(E) (:func:`spikegrad.spikes.place_sorted_events`) and sorts the
time-major keys of any others. The native kernel (``spikegrad/native/cpu_events.h``, preferred
while :func:`spikegrad.native.enabled`) takes events in any order: a counting sort by row, then
each row's few units sorted and de-duplicated, O(E) for the usual short rows. ``keys_to_csr``
turns a layer's sorted spike keys (what the forward emits) into the pattern: the twin by a
binary search per row, the native kernel in one counting pass.
"""

from __future__ import annotations

import numpy as np

from .. import native
from ..backend import Array, get_xp, register
from ..errors import ShapeError
from ..spikes import place_sorted_events, spike_matrix_from_keys
from .native import checked_index


@register("events_to_csr", "numpy", xp_generic=True)
def events_to_csr(b: Array, t: Array, i: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """The CSR pattern of validated events (any order, repeats allowed: one spike).

    Shapes: b, t, i (E,) int; shape = (T, B, N) -> indptr (T * B + 1,) int32,
    indices (nnz,) int32, units ascending per row t * B + b.
    """
    T, B, N = shape
    xp = get_xp(b)
    key = (b * T + t) * N + i
    if key.size < 2 or bool((key[1:] > key[:-1]).all()):
        m = place_sorted_events(xp, b, t, i, T, B, N)
    else:
        keys = xp.sort((t * B + b) * N + i)
        keys = keys[xp.concatenate((xp.ones(1, dtype=bool), keys[1:] != keys[:-1]))]
        m = spike_matrix_from_keys(xp, keys, T, B, N)
    return m.indptr, m.indices


@register("keys_to_csr", "numpy", xp_generic=True)
def keys_to_csr(keys: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """The CSR pattern of sorted unique flat keys ``(t * B + b) * N + i``.

    Shapes: keys (S,) int; shape = (T, B, N) -> indptr (T * B + 1,) int32, indices (S,) int32.
    """
    T, B, N = shape
    xp = get_xp(keys)
    rows = keys // N
    cols = (keys - rows * N).astype(xp.int32)
    return xp.searchsorted(rows, xp.arange(T * B + 1)).astype(xp.int32), cols


@register("keys_to_csr", "native")
def keys_to_csr_native(keys: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """See :func:`keys_to_csr` (keys are checked sorted and in range before the kernel)."""
    T, B, N = shape
    k = np.ascontiguousarray(keys, dtype=np.int64)
    if k.size and (k[0] < 0 or k[-1] >= T * B * N or not bool((k[1:] > k[:-1]).all())):
        raise ShapeError(f"keys must be strictly increasing within 0..{T * B * N - 1}")
    indptr, indices = np.empty(T * B + 1, dtype=np.int32), np.empty(k.size, dtype=np.int32)
    native.library().sg_keys_csr(k.ctypes.data, k.size, T * B, N, indptr.ctypes.data,
                                 indices.ctypes.data)  # fmt: skip
    return indptr, indices


@register("events_to_csr", "native")
def events_to_csr_native(
    b: Array, t: Array, i: Array, shape: tuple[int, int, int]
) -> tuple[Array, Array]:
    """See :func:`events_to_csr` (the same result; indices are checked before the kernel
    reads them, since the event arrays may have changed since they were validated)."""
    T, B, N = shape
    ev = [
        checked_index(f"SpikeEvents.{name}", a, n, np.int64)
        for name, a, n in zip("bti", (b, t, i), (B, T, N), strict=True)
    ]
    E = ev[0].size
    indptr = np.empty(T * B + 1, dtype=np.int64)
    indices, tmp = np.empty(E, dtype=np.int32), np.empty(E, dtype=np.int32)
    nnz = native.library().sg_events_csr(
        *(a.ctypes.data for a in ev), E, T, B, indptr.ctypes.data, indices.ctypes.data,
        tmp.ctypes.data,
    )  # fmt: skip
    if nnz < 0:
        raise MemoryError("events_to_csr: no memory for the row cursors")
    return indptr.astype(np.int32), indices[:nnz] if nnz == E else indices[:nnz].copy()
