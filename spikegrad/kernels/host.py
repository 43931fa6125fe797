"""Generic host code of the CUDA kernels: the launcher protocol, checks, scalar casts, grids,
and the table of kernel ops.

Each op family's ``glue.py`` (``spikegrad/ops/<family>/``) holds the host code of its ``.cu``
kernels: functions that take a :class:`Launcher` first and then the arguments of the NumPy twin
of the same name, registered with :func:`cuda_op` (for "cupy", bound to the CuPy launcher, and
in :data:`OPS`, which the tests bind to the CPU emulation). They use the array module of
their arguments: with CuPy arrays and the RawModule launcher of :mod:`spikegrad.kernels.launch`
they are the GPU backend; with NumPy arrays and the g++ emulation of ``tests/kernels`` they run
the very same kernels and glue on the CPU. No math of their own beyond index bookkeeping.

CuPy does not check kernel arguments, so every array is checked here for dtype and
C-contiguity and every scalar is cast to the exact C type (sizes: int64 = ``long long``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..backend import Array, get_xp, register
from ..errors import DTypeError, ShapeError
from . import BLOCK, grid_cap, template_args
from .launch import LAUNCH, bind


class Launcher(Protocol):
    """Runs one kernel instance; arrays in ``args`` are passed as device pointers."""

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple[Any, ...]
    ) -> None: ...

    def ptr(self, a: Array) -> int:
        """The address of ``a``'s first element."""
        ...


def grid_size(n: int) -> int:
    """Blocks for n threads: ceil(n / BLOCK), capped at MAX_GRID (kernels loop grid-stride)."""
    return min(-(-n // BLOCK), grid_cap())


def run(
    launch: Launcher, stem: str, kernel: str, targs: tuple[str, ...], n: int, args: tuple
) -> None:
    """Launch ``kernel`` of ``<stem>.cu`` over n threads (nothing when n is 0)."""
    if n > 0:
        launch(stem, kernel, targs, grid_size(n), args)


def out_array(name: str, a: Array, dtype: Any = None) -> np.dtype:
    """Check an array the kernel writes in place: float32/64 (= dtype if given), C-contiguous."""
    check_dtype(name, a, dtype)
    if not a.flags.c_contiguous:
        raise ShapeError(f"{name} must be C-contiguous for the CUDA kernels (written in place)")
    return a.dtype


def in_array(name: str, a: Array, dtype: Any = None) -> Array:
    """An array the kernel only reads: dtype checked, made C-contiguous (no copy if it is)."""
    check_dtype(name, a, dtype)
    return get_xp(a).ascontiguousarray(a)


def check_dtype(name: str, a: Array, dtype: Any) -> None:
    """DTypeError unless ``a`` is float32/64 (and ``dtype`` when given)."""
    template_args(a.dtype)
    if dtype is not None and a.dtype != dtype:
        raise DTypeError(f"{name} must have dtype {np.dtype(dtype)}; got {a.dtype}")


def index_arrays(*arrays: Array, least: Any = np.int32) -> tuple[np.dtype, list[Array]]:
    """Cast index arrays to one kernel index type: int64 if any is int64 or ``least`` is
    (the tests force the 64-bit path that way), else int32."""
    for a in arrays:
        if a.dtype.kind not in "iu":
            raise DTypeError(f"index arrays must be integer; got {a.dtype}")
    wide = any(a.dtype.itemsize > 4 for a in arrays) or np.dtype(least).itemsize > 4
    idt = np.dtype(np.int64) if wide else np.dtype(np.int32)
    xp = get_xp(*arrays)
    return idt, [xp.ascontiguousarray(a.astype(idt, copy=False)) for a in arrays]


def columns(a: Array) -> tuple[np.int64, np.int64]:
    """(n_t, n_col) of a time-major array (T, ...)."""
    n_t = a.shape[0]
    return np.int64(n_t), np.int64(a.size // n_t if n_t else 0)


# op name -> host function: the kernel ops, each with its NumPy twin's signature after the
# launcher. cuda_op registers each for "cupy"; tests bind them to the CPU emulation.
OPS: dict[str, Callable[..., Any]] = {}


def cuda_op(op: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: ``fn`` (launcher first, then the twin's arguments) is the CUDA op ``op``."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        OPS[op] = fn
        register(op, "cupy")(bind(fn, LAUNCH))
        return fn

    return deco
