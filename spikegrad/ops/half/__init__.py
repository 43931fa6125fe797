"""16-bit weight copies (``weight_dtype`` float16 / bfloat16): the conversions every backend
shares and the op ``half_copy`` that makes a copy (the NumPy twin, ``twin.py``, xp-generic;
the native C kernel, ``cpu.h``, registered by ``glue.py``).
"""

from . import glue  # noqa: F401  (registers the kernel)
from .twin import (
    HALVES,
    check_half_copy,
    compute_dtype,
    half_copy,
    is_half,
    storage_dtype,
    to_half,
    weights_read,
    widen,
)

__all__ = [
    "HALVES",
    "check_half_copy",
    "compute_dtype",
    "half_copy",
    "is_half",
    "storage_dtype",
    "to_half",
    "weights_read",
    "widen",
]
