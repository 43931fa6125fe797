"""What every op family shares: the argument checks every backend runs before it launches
anything, and the decorator that registers a native kernel with its fallback to the twin.

The checks are backend-generic (NumPy or CuPy arrays). Each op's ``check_<op>`` (in its
family's ``twin.py``) is built from these and is called by the twin, the native wrapper and
the CUDA host glue alike, so a bad argument fails the same way on every backend. Shapes and
dtypes are always checked; the checks that read values (index bounds, sortedness) cost a host
sync on the GPU, so there they run only while :func:`set_device_checks` (or
``SPIKEGRAD_DEVICE_CHECKS=1`` at import) says so: the engine's own index arrays are valid by
construction, and one step keeps its one read per layer.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..backend import Array, get_xp, register, to_numpy
from ..errors import ShapeError

# The neuron kinds' C/CUDA pieces (spikegrad/neurons/<kind>.h), included by the layer drivers.
NEURON_PIECES = Path(__file__).resolve().parent.parent / "neurons"


def check_shape(name: str, a: Array, shape: tuple[int, ...]) -> None:
    """ShapeError unless ``a`` has exactly ``shape``."""
    if tuple(a.shape) != tuple(shape):
        raise ShapeError(f"{name} must have shape {tuple(shape)}; got {tuple(a.shape)}")


_device_checks = os.environ.get("SPIKEGRAD_DEVICE_CHECKS", "0").lower() in ("1", "true", "yes")


def set_device_checks(flag: bool) -> None:
    """Run the value checks (index bounds, sortedness) on GPU arrays too (a sync each)."""
    global _device_checks
    _device_checks = bool(flag)


def _reads(a: Array) -> bool:
    """Whether the value checks of ``a`` run: always on the host, on a GPU when enabled."""
    return bool(a.size) and (get_xp(a) is np or _device_checks)


def _read(*values: Array) -> list[int]:
    """Scalars of one array module as Python ints, in one transfer."""
    xp = get_xp(*values)
    return [int(v) for v in to_numpy(xp.stack([xp.asarray(v, dtype=xp.int64) for v in values]))]


def _range_error(name: str, lo: int, hi: int, n: int) -> ShapeError | None:
    if lo < 0 or hi >= n:
        return ShapeError(f"{name} must lie in 0..{n - 1}; got {lo}..{hi}")
    return None


def check_index(name: str, a: Array, n: int) -> None:
    """ShapeError unless every entry of the integer array ``a`` lies in 0..n-1."""
    if _reads(a) and (err := _range_error(name, *_read(a.min(), a.max()), n)):
        raise err


def check_sorted_index(name: str, a: Array, n: int) -> None:
    """ShapeError unless ``a`` is strictly increasing within 0..n-1 (an ActiveSet's idx,
    sorted spike keys)."""
    if not _reads(a):
        return
    xp = get_xp(a)
    lo, hi, unsorted = _read(a.min(), a.max(), xp.any(a[1:] <= a[:-1]))
    if unsorted:
        raise ShapeError(f"{name} must be strictly increasing (an ActiveSet is sorted)")
    if err := _range_error(name, lo, hi, n):
        raise err


def check_csr(indptr: Array, indices: Array, n_rows: int, n_cols: int) -> None:
    """ShapeError unless (indptr, indices) is a CSR pattern of n_rows rows whose indices lie
    in 0..n_cols-1: n_rows + 1 non-decreasing offsets from 0 to nnz (one transfer)."""
    if tuple(indptr.shape) != (n_rows + 1,):
        raise ShapeError(f"indptr must have shape ({n_rows + 1},); got {tuple(indptr.shape)}")
    if not _reads(indptr):
        return
    xp = get_xp(indptr)
    ends = (indptr[0], indptr[-1], xp.any(indptr[1:] < indptr[:-1]))
    span = (indices.min(), indices.max()) if indices.size else ()
    first, last, decreasing, *bounds = _read(*ends, *span)
    if first != 0 or last != indices.size or decreasing:
        raise ShapeError(f"indptr must be {n_rows + 1} non-decreasing offsets from 0 to nnz")
    if bounds and (err := _range_error("indices", *bounds, n_cols)):
        raise err


def check_alpha(alpha: float | Array, n: int, name: str = "alpha") -> None:
    """ShapeError unless alpha (a constant called ``name``) is one float or one value per
    neuron, shape (n,)."""
    if np.ndim(alpha) == 0:
        return
    shape = tuple(alpha.shape) if hasattr(alpha, "shape") else np.shape(alpha)
    if shape != (n,) and shape != (1,):
        raise ShapeError(f"{name} must be a float or have shape ({n},); got shape {shape}")


def alpha_vector(alpha: float | Array, like: Array, n: int) -> Array:
    """alpha as the C and CUDA kernels read it: a contiguous vector in like's dtype and array
    module, (n,) per neuron or (1,) for one float (a column c reads ``alpha[c % n_alpha]``)."""
    check_alpha(alpha, n)
    xp = get_xp(like)
    return xp.ascontiguousarray(xp.asarray(alpha, dtype=like.dtype).reshape(-1))


def native_op(op: str, twin: Callable[..., Any], runs: Callable[..., bool]) -> Callable:
    """Decorator: register ``fn`` as the native kernel of ``op``; a call for which
    ``runs(*args)`` is false (a dtype or layout the kernel lacks) goes to ``twin``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def op_fn(*args: Any, **kwargs: Any) -> Any:
            if runs(*args, **kwargs):
                return fn(*args, **kwargs)
            return twin(*args, **kwargs)

        return register(op, "native")(op_fn)

    return deco


# --- the native wrappers' side: NumPy buffers handed to the C kernels through ctypes
NATIVE_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def supported(a: Array) -> bool:
    """Whether the native kernels have an instance for a's dtype (float32 or float64)."""
    return np.dtype(a.dtype) in NATIVE_FLOATS


def in_place(a: Array) -> bool:
    """Whether a native kernel can work on ``a`` in place (else its twin runs)."""
    return supported(a) and a.ndim > 0 and a.flags.c_contiguous and a.flags.writeable


def ptr(a: np.ndarray | None) -> int | None:
    """The address of a's first element (None for None: a NULL pointer)."""
    return None if a is None else a.ctypes.data


def contiguous(a: Array, dtype: Any = None) -> np.ndarray:
    """``a`` as a C-contiguous NumPy array (of ``dtype`` when given; no copy if it is)."""
    return np.ascontiguousarray(a, dtype=dtype)


def rows(a: np.ndarray) -> tuple[int, int]:
    """(T, elements per time step) of a time-major array."""
    T = a.shape[0]
    return T, (a.size // T if T else 0)


def last_axis(a: Array) -> int:
    """The length of the neuron axis (the last) of a time-major array; 1 when 1-D."""
    return a.shape[-1] if a.ndim > 1 else 1
