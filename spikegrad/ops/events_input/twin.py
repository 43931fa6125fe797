"""Spike events and sorted flat keys to the engine's time-major CSR spike pattern (ops
``events_to_csr`` and ``keys_to_csr``).

The twin (NumPy, xp-generic: on CuPy arrays it runs there) places events already sorted by
(b, t, i) without repeats in O(E) (:func:`spikegrad.spikes.place_sorted_events`) and sorts the
time-major keys of any others. The native kernel (``cpu.h`` beside this file, wrapped in
``glue.py``; preferred while :func:`spikegrad.native.enabled`) takes events in any order: a
counting sort by row, then each row's few units sorted and de-duplicated, O(E) for the usual
short rows. ``keys_to_csr``
turns a layer's sorted spike keys (what the forward emits) into the pattern: the twin by a
binary search per row, the native kernel in one counting pass.
"""

from __future__ import annotations

from ...backend import Array, get_xp, register
from ...spikes import place_sorted_events, spike_matrix_from_keys
from ..common import check_index, check_sorted_index


def check_events(b: Array, t: Array, i: Array, shape: tuple[int, int, int]) -> None:
    """The checks of ``events_to_csr`` (every backend): each index in range (the arrays may
    have changed since the SpikeEvents were validated)."""
    T, B, N = shape
    for name, a, n in zip("bti", (b, t, i), (B, T, N), strict=True):
        check_index(f"SpikeEvents.{name}", a, n)


def check_keys(keys: Array, shape: tuple[int, int, int]) -> None:
    """The checks of ``keys_to_csr`` (every backend): keys strictly increasing, in range."""
    T, B, N = shape
    check_sorted_index("keys", keys, T * B * N)


@register("events_to_csr", "numpy", xp_generic=True)
def events_to_csr(b: Array, t: Array, i: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """The CSR pattern of validated events (any order, repeats allowed: one spike).

    Shapes: b, t, i (E,) int; shape = (T, B, N) -> indptr (T * B + 1,) int32,
    indices (nnz,) int32, units ascending per row t * B + b.
    """
    check_events(b, t, i, shape)
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
    check_keys(keys, shape)
    T, B, N = shape
    xp = get_xp(keys)
    rows = keys // N
    cols = (keys - rows * N).astype(xp.int32)
    return xp.searchsorted(rows, xp.arange(T * B + 1)).astype(xp.int32), cols
