"""The native kernels of ``dense_to_csr`` (``cpu.h``) behind the twin's signature.

Units read contiguously when they are (the row kernels), else the column kernels run over the
one of b and t with the smaller stride innermost (F order, time-last storage). For a dtype they
lack (float16, complex, object, non-native byte order) the twin runs. The twin's checks of N
and nnz run here too; the kernels check the values as they count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import native
from ...backend import Array
from ...spikes import not_binary
from ..common import native_op
from . import twin
from .twin import check_n, check_nnz

_INSTANCES = ("u8", "u16", "u32", "u64", "f32", "f64")
_COUNT = ("i64", "p i64 i64 i64 i64 i64 i64 p")  # x B T N sb st sn indptr
_FILL = "p i64 i64 i64 i64 i64 i64 p p"  # ... indices
native.c_family(
    __file__,
    once=("cpu.h",),
    functions={
        **{f"sg_dense_count_{c}{e}": _COUNT for e in _INSTANCES for c in ("", "cols_")},
        **{f"sg_dense_fill_{e}": ("void", _FILL) for e in _INSTANCES},
        **{f"sg_dense_fill_cols_{e}": ("i64", _FILL) for e in _INSTANCES},  # -2: out of memory
    },
)


def _suffix(dtype: np.dtype) -> str | None:
    """The kernel instance of ``dtype`` (integers and bool by their unsigned bits), or None."""
    if not dtype.isnative:
        return None
    if dtype.kind in "biu":
        return {1: "u8", 2: "u16", 4: "u32", 8: "u64"}.get(dtype.itemsize)
    if dtype.kind == "f":
        return {4: "f32", 8: "f64"}.get(dtype.itemsize)
    return None


def _kernels(name: str) -> tuple[Any, Any]:
    """(count, fill) of one instance (e.g. "f32" or "cols_f32")."""
    return native.function("sg_dense_count_" + name), native.function("sg_dense_fill_" + name)


def _strides(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``x`` (copied when it is not aligned) and its strides in elements (0 along an axis of
    length 1)."""
    size = x.itemsize
    axes = list(zip(x.shape, x.strides, strict=True))
    if not x.flags.aligned or any(n > 1 and s % size for n, s in axes):
        x = np.require(x, requirements=("C", "A"))
        axes = list(zip(x.shape, x.strides, strict=True))
    return x, [s // size if n > 1 else 0 for n, s in axes]


def _runs(x: Array) -> bool:
    return getattr(x, "ndim", 0) == 3 and _suffix(np.dtype(x.dtype)) is not None


@native_op("dense_to_csr", twin.dense_to_csr, _runs)
def dense_to_csr(x: Array) -> tuple[Array, Array]:
    """See :func:`spikegrad.ops.dense_input.dense_to_csr` (the same result and errors; reads x
    where it lies, in any layout)."""
    suffix = _suffix(np.dtype(x.dtype))
    B, T, N = x.shape
    check_n(N)
    x, strides = _strides(x)
    sb, st, sn = (abs(s) for s in strides)
    cols = sn > 1 and any(n > 1 and s < sn for n, s in ((B, sb), (T, st)))
    count, fill = _kernels(("cols_" if cols else "") + suffix)
    indptr = np.empty(T * B + 1, dtype=np.int64)
    bad = count(x.ctypes.data, B, T, N, *strides, indptr.ctypes.data)
    if bad == -2:
        raise MemoryError("dense_to_csr: no memory for a row of counters")
    if bad >= 0 and x.dtype != bool:  # bool: every non-zero byte is a spike, as in the twin
        row = x[bad // T, bad % T]
        raise not_binary(row[~((row == 0) | (row == 1))][0])
    nnz = int(indptr[-1])
    check_nnz(nnz)
    indices = np.empty(nnz, dtype=np.int32)
    if fill(x.ctypes.data, B, T, N, *strides, indptr.ctypes.data, indices.ctypes.data) == -2:
        raise MemoryError("dense_to_csr: no memory for a row of cursors")
    return indptr.astype(np.int32), indices
