"""The 16-bit weight copies' native C kernel (``cpu.h``) behind the twin's signature (no CUDA
kernel: on CuPy arrays the xp-generic twin makes the copy on the device), and the check of the
weights a CUDA kernel reads (:func:`weights_in`, for the families' host code)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import native
from ...backend import Array, get_xp
from ...errors import DTypeError
from ...kernels import template_args
from ..common import native_op, ptr
from . import twin
from .twin import check_half_copy, compute_dtype, storage_dtype

native.c_family(__file__, once=("cpu.h",), functions={"sg_half_copy": ("int", "p p i64 int")})


@native_op("half_copy", twin.half_copy, lambda a, wd: a.dtype == np.float32)
def half_copy(a: Array, weight_dtype: str) -> np.ndarray:
    """See :func:`spikegrad.ops.half.half_copy` (float16 without F16C: the twin)."""
    check_half_copy(a, weight_dtype)
    a = np.ascontiguousarray(a)
    out = np.empty(a.shape, storage_dtype(weight_dtype))
    if native.function("sg_half_copy")(ptr(a), ptr(out), a.size, weight_dtype == "bfloat16"):
        return twin.half_copy(a, weight_dtype)
    return out


def weights_in(name: str, w: Array, dtype: Any = None) -> Array:
    """Weights a kernel reads: float32/64, or a 16-bit copy of float32 weights (ops/half);
    the dtype the kernel computes in checked against ``dtype`` when given; made C-contiguous."""
    cdt = compute_dtype(w)
    template_args(cdt, weights=w.dtype)
    if dtype is not None and cdt != dtype:
        raise DTypeError(f"{name} must be {np.dtype(dtype)} weights; got {w.dtype}")
    return get_xp(w).ascontiguousarray(w)
