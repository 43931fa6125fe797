"""The cochlea family's native C kernel (``cpu.h``) behind the twin's signature. No CUDA
kernel: the op is a host-side data encoder (CuPy arrays have no implementation)."""

from __future__ import annotations

import numpy as np

from ... import native
from ...backend import Array
from ..common import native_op, ptr
from . import twin
from .twin import binomial_ratios, check_cochlea_hair_bushy, seed_u64

native.c_family(
    __file__,
    once=("cpu.h",),
    functions={"sg_cochlea_hair_bushy": ("void", "p i64 i64 p p p i64 u64 p")},
)


@native_op("cochlea_hair_bushy", twin.hair_bushy_numpy, lambda bm, *_: bm.flags.c_contiguous)
def hair_bushy(bm: Array, hair: Array, bushy: Array, n_fib: int, seed: int) -> np.ndarray:
    """See :func:`spikegrad.ops.cochlea.hair_bushy_numpy` (the same bits; a strided ``bm``
    goes to the twin)."""
    check_cochlea_hair_bushy(bm, hair, bushy, n_fib, seed)
    out = np.empty(bm.shape, np.uint8)
    hair, bushy = (np.ascontiguousarray(a, np.float64) for a in (hair, bushy))
    ratio = binomial_ratios(int(n_fib))
    n_ch, n_t = bm.shape
    args = (ptr(bm), n_ch, n_t, ptr(hair), ptr(bushy), ptr(ratio), int(n_fib), seed_u64(seed))
    native.function("sg_cochlea_hair_bushy")(*args, ptr(out))
    return out
