"""The native kernels of ``events_to_csr`` and ``keys_to_csr`` (``cpu.h``) behind the twins'
signatures; each runs the twin's check first.
"""

from __future__ import annotations

import numpy as np

from ... import native
from ...backend import Array, register
from .twin import check_events, check_keys

native.c_family(
    __file__,
    once=("cpu.h",),
    functions={
        # b t i n_ev nt nb indptr indices tmp -> nnz, or -1: out of memory
        "sg_events_csr": ("i64", "p p p i64 i64 i64 p p p"),
        "sg_keys_csr": ("void", "p i64 i64 i64 p p"),
    },
)


@register("keys_to_csr", "native")
def keys_to_csr(keys: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """See :func:`spikegrad.ops.events_input.keys_to_csr`."""
    check_keys(keys, shape)
    T, B, N = shape
    k = np.ascontiguousarray(keys, dtype=np.int64)
    indptr, indices = np.empty(T * B + 1, dtype=np.int32), np.empty(k.size, dtype=np.int32)
    native.function("sg_keys_csr")(
        k.ctypes.data, k.size, T * B, N, indptr.ctypes.data, indices.ctypes.data
    )
    return indptr, indices


@register("events_to_csr", "native")
def events_to_csr(b: Array, t: Array, i: Array, shape: tuple[int, int, int]) -> tuple[Array, Array]:
    """See :func:`spikegrad.ops.events_input.events_to_csr` (the same result)."""
    check_events(b, t, i, shape)
    T, B, _ = shape
    ev = [np.ascontiguousarray(a, dtype=np.int64) for a in (b, t, i)]
    E = ev[0].size
    indptr = np.empty(T * B + 1, dtype=np.int64)
    indices, tmp = np.empty(E, dtype=np.int32), np.empty(E, dtype=np.int32)
    nnz = native.function("sg_events_csr")(
        *(a.ctypes.data for a in ev), E, T, B, indptr.ctypes.data, indices.ctypes.data,
        tmp.ctypes.data,
    )  # fmt: skip
    if nnz < 0:
        raise MemoryError("events_to_csr: no memory for the row cursors")
    return indptr.astype(np.int32), indices[:nnz] if nnz == E else indices[:nnz].copy()
