"""Dense 0/1 engine input to the engine's time-major CSR spike pattern (op ``dense_to_csr``).

The twin (NumPy, xp-generic: on CuPy arrays it runs there) checks the values, then takes the
flat non-zero positions of the time-major view. The native kernels
(``spikegrad/native/cpu_input.h``, preferred while :func:`spikegrad.native.enabled`) read the
input where it lies, in two parallel passes: check and count per row, then fill. Units read
contiguously when they are (the row kernels), else the column kernels run over the one of b
and t with the smaller stride innermost (F order, time-last storage). For a dtype they lack
(float16, complex, object, non-native byte order) the twin runs.
"""

from __future__ import annotations

import ctypes
import functools
from typing import Any

import numpy as np

from .. import native
from ..backend import Array, get_xp, register
from ..errors import InputError, ShapeError
from ..spikes import check_dense, not_binary, spike_matrix_from_keys

INDEX_MAX = 2**31 - 1  # the largest nnz (and N) an int32 CSR holds


def _check_n(N: int) -> None:
    if N > INDEX_MAX:
        raise ShapeError(f"x has N = {N} units; int32 unit indices need N <= 2**31 - 1")


def _check_nnz(nnz: int) -> None:
    if nnz > INDEX_MAX:
        raise InputError(
            f"x holds {nnz} spikes; a SpikeMatrix (int32 indptr) holds at most 2**31 - 1: "
            "pass fewer samples per batch"
        )


@register("dense_to_csr", "numpy", xp_generic=True)
def dense_to_csr(x: Array) -> tuple[Array, Array]:
    """The time-major CSR pattern of a dense 0/1 input, after checking its values.

    Row ``t * B + b`` holds the units j with ``x[b, t, j] == 1``, ascending. Raises InputError
    naming the first value (C order) other than 0 and 1 (NaN included; -0.0 is 0).

    Shapes: x (B, T, N) bool or numeric, any layout -> indptr (T * B + 1,) int32,
    indices (nnz,) int32.
    """
    x = check_dense(x)
    B, T, N = x.shape
    _check_n(N)
    xp = get_xp(x)
    keys = xp.flatnonzero(xp.moveaxis(x, 0, 1))
    _check_nnz(int(keys.size))
    if N == 0:
        return xp.zeros(T * B + 1, dtype=xp.int32), xp.zeros(0, dtype=xp.int32)
    m = spike_matrix_from_keys(xp, keys, T, B, N)
    return m.indptr, m.indices


_P = ctypes.c_void_p
_I64 = ctypes.c_int64


def _suffix(dtype: np.dtype) -> str | None:
    """The kernel instance of ``dtype`` (integers and bool by their unsigned bits), or None."""
    if not dtype.isnative:
        return None
    if dtype.kind in "biu":
        return {1: "u8", 2: "u16", 4: "u32", 8: "u64"}.get(dtype.itemsize)
    if dtype.kind == "f":
        return {4: "f32", 8: "f64"}.get(dtype.itemsize)
    return None


@functools.cache
def _kernels(name: str) -> tuple[Any, Any]:
    """(count, fill) of one instance (e.g. "f32" or "cols_f32"), their signatures declared."""
    lib = native.library()
    count, fill = getattr(lib, "sg_dense_count_" + name), getattr(lib, "sg_dense_fill_" + name)
    count.argtypes = [_P, _I64, _I64, _I64, _I64, _I64, _I64, _P]
    count.restype = _I64
    fill.argtypes = [_P, _I64, _I64, _I64, _I64, _I64, _I64, _P, _P]
    fill.restype = _I64 if name.startswith("cols") else None
    return count, fill


def _strides(x: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """``x`` (copied when it is not aligned) and its strides in elements (0 along an axis of
    length 1)."""
    size = x.itemsize
    axes = list(zip(x.shape, x.strides, strict=True))
    if not x.flags.aligned or any(n > 1 and s % size for n, s in axes):
        x = np.require(x, requirements=("C", "A"))
        axes = list(zip(x.shape, x.strides, strict=True))
    return x, [s // size if n > 1 else 0 for n, s in axes]


@register("dense_to_csr", "native")
def dense_to_csr_native(x: Array) -> tuple[Array, Array]:
    """See :func:`dense_to_csr` (the same result and errors; reads x where it lies, in any
    layout)."""
    suffix = _suffix(np.dtype(x.dtype)) if getattr(x, "ndim", 0) == 3 else None
    if suffix is None:
        return dense_to_csr(x)
    B, T, N = x.shape
    _check_n(N)
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
    _check_nnz(nnz)
    indices = np.empty(nnz, dtype=np.int32)
    if fill(x.ctypes.data, B, T, N, *strides, indptr.ctypes.data, indices.ctypes.data) == -2:
        raise MemoryError("dense_to_csr: no memory for a row of cursors")
    return indptr.astype(np.int32), indices
