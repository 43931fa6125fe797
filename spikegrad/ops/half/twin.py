"""16-bit weight copies (mixed precision): the one host-side conversion of the backends.

A float32 network may let its kernels read a 16-bit copy of its weights (``weight_dtype``
"float16" or "bfloat16", :class:`spikegrad.Network`), accumulating in float32; the float32
master, the gradients and Adam's moments stay float32. The copy is stored as

* float16: IEEE binary16 (NumPy's ``float16``);
* bfloat16: the upper 16 bits of the float32, as ``uint16`` (NumPy has no bfloat16), rounded
  to nearest, ties to even (a NaN stays a NaN).

made by the op ``half_copy`` (:func:`to_half`: its twin here, xp-generic, so on CuPy the copy
is made on the device; a native C kernel in ``cpu.h``). An op that takes weights accepts
either storage; its NumPy twin reads the copy through :func:`widen` (exact: every 16-bit
value is a float32), the C and CUDA kernels convert each element as they read it, so both
compute the same float32 arithmetic on the same values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...backend import Array, call, get_xp, register
from ...errors import DTypeError
from ..common import supported

_STORAGE = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(np.uint16)}
HALVES = tuple(_STORAGE.values())  # the storage dtypes of a 16-bit copy


def storage_dtype(weight_dtype: str) -> np.dtype | None:
    """The dtype a 16-bit copy is stored in (None for "float32": no copy)."""
    return _STORAGE.get(weight_dtype)


def is_half(w: Array) -> bool:
    """Whether ``w`` is a 16-bit weight copy (float16 or bfloat16 bits)."""
    return np.dtype(w.dtype) in HALVES


def compute_dtype(w: Array) -> np.dtype:
    """The float type an op computes in when it reads the weights ``w``: float32 for a 16-bit
    copy, else w's own dtype."""
    return np.dtype(np.float32) if is_half(w) else np.dtype(w.dtype)


def weights_read(w: Array, *others: Array) -> bool:
    """Whether a native kernel reads the weights ``w`` (float32, float64 or a 16-bit copy) with
    the float arrays ``others`` (all of the dtype it computes in)."""
    if not (supported(w) or is_half(w)):
        return False
    return all(a.dtype == compute_dtype(w) for a in others)


def to_half(a: Array, weight_dtype: str) -> Array:
    """The 16-bit copy of the array ``a`` (as float32 first; op ``half_copy``: native C on
    NumPy arrays where built, the twin otherwise). Shapes: any -> same."""
    return call("half_copy", a.astype(get_xp(a).float32, copy=False), weight_dtype)


def check_half_copy(a: Array, weight_dtype: str) -> None:
    """The checks of ``half_copy`` (every backend): float32 values, a 16-bit weight dtype."""
    if a.dtype != np.float32:
        raise DTypeError(f"half_copy: a 16-bit copy is made of float32 weights; got {a.dtype}")
    if storage_dtype(weight_dtype) is None:
        raise DTypeError(
            f"half_copy: weight_dtype must be float16 or bfloat16; got {weight_dtype!r}"
        )


@register("half_copy", "numpy", xp_generic=True)
def half_copy(a: Array, weight_dtype: str) -> Array:
    """The 16-bit copy of the float32 array ``a``: float16 (NumPy's conversion) or bfloat16
    bits as uint16, both rounded to nearest, ties to even (a NaN stays a NaN).

    Shapes: any -> same; dtype float16, or uint16 holding bfloat16 bits."""
    check_half_copy(a, weight_dtype)
    xp = get_xp(a)
    if weight_dtype == "float16":
        return a.astype(xp.float16)
    u = xp.ascontiguousarray(a, dtype=xp.float32).view(xp.uint32)
    rounded = (u + xp.uint32(0x7FFF) + ((u >> 16) & xp.uint32(1))) >> 16
    nan = (u & xp.uint32(0x7FFFFFFF)) > xp.uint32(0x7F800000)
    return xp.where(nan, (u >> 16) | xp.uint32(0x40), rounded).astype(xp.uint16)


def widen(w: Any) -> Any:
    """``w`` as float32 if it is a 16-bit copy (exact), else ``w`` itself (None stays None)."""
    if w is None or not is_half(w):
        return w
    xp = get_xp(w)
    if w.dtype == xp.float16:
        return w.astype(xp.float32)
    return (w.astype(xp.uint32) << 16).view(xp.float32)
