"""CuPy launchers: one per kernel op, registered for the "cupy" backend.

Each launcher has the name and signature of its NumPy twin in :mod:`spikegrad.ops` and hands
its arguments to the device-independent host code of :mod:`spikegrad.kernels.host` together
with the RawModule launcher below. Modules are built from the ``.cu`` files (local headers
inlined) with ``cupy.RawModule(code=..., options=..., name_expressions=[...])`` and cached
per (stem, options); CuPy compiles on first use, once per device, with its own disk cache.
NVRTC compile errors and launch errors are re-raised as :class:`~spikegrad.errors.KernelError`
naming the kernel and the file. This module (with backend.py) is the only one importing CuPy.
"""

from __future__ import annotations

import functools

import cupy

from ..backend import Array, register
from ..errors import KernelError
from ..ops.surrogate import ActiveSet
from ..spikes import SpikeMatrix
from . import BLOCK, host, module_source, name_expression, name_expressions, options


@functools.cache
def load_module(stem: str, opts: tuple[str, ...]) -> cupy.RawModule:
    """The RawModule of ``<stem>.cu`` with every template instance of the kernel table."""
    return cupy.RawModule(
        code=module_source(stem), options=opts, name_expressions=name_expressions(stem)
    )


class _CupyLauncher:
    """The launcher protocol of :mod:`spikegrad.kernels.host` on CuPy RawModules."""

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple
    ) -> None:
        expr, opts = name_expression(kernel, targs), options()
        try:
            fn = load_module(stem, opts).get_function(expr)
        except cupy.cuda.compiler.CompileException as exc:
            raise KernelError(
                f"NVRTC failed to compile {stem}.cu (kernel {expr}, "
                f"options {' '.join(opts)}):\n{exc}"
            ) from exc
        except (cupy.cuda.driver.CUDADriverError, cupy.cuda.runtime.CUDARuntimeError) as exc:
            raise KernelError(f"cannot load kernel {expr} from {stem}.cu: {exc}") from exc
        try:
            fn((grid,), (BLOCK,), args)
        except (cupy.cuda.driver.CUDADriverError, cupy.cuda.runtime.CUDARuntimeError) as exc:
            raise KernelError(
                f"launch of {expr} ({stem}.cu, grid {grid} x {BLOCK}) failed: {exc}"
            ) from exc

    def ptr(self, a: Array) -> int:
        return int(a.data.ptr)


LAUNCH = _CupyLauncher()


@register("lif_forward", "cupy")
def lif_forward(h: Array, alpha: float, theta: float) -> Array:
    """See :func:`spikegrad.ops.lif.lif_forward` (lif.cu)."""
    return host.lif_forward(LAUNCH, h, alpha, theta)


@register("lif_forward_sparse", "cupy")
def lif_forward_sparse(
    h: Array, alpha: float, theta: float, beta_s: float, b_th: float
) -> tuple[Array, ActiveSet]:
    """See :func:`spikegrad.ops.lif.lif_forward_sparse` (lif.cu; h is not modified)."""
    return host.lif_forward_sparse(LAUNCH, h, alpha, theta, beta_s, b_th)


@register("gather_rowdot", "cupy")
def gather_rowdot(
    e: Array, rows: Array, w: Array, cols: Array, variant: int | None = None
) -> Array:
    """See :func:`spikegrad.ops.lif.gather_rowdot` (lif_backward.cu; variant: see host)."""
    return host.gather_rowdot(LAUNCH, e, rows, w, cols, variant)


@register("lif_backward_dense", "cupy")
def lif_backward_dense(
    g: Array, sp: Array, x: Array, w: Array, alpha: float, need_dx: bool
) -> tuple[Array, Array | None]:
    """See :func:`spikegrad.ops.lif.lif_backward_dense` (lif_backward.cu + cuBLAS)."""
    return host.lif_backward_dense(LAUNCH, g, sp, x, w, alpha, need_dx)


@register("lif_backward_sparse", "cupy")
def lif_backward_sparse(
    g: Array,
    act: ActiveSet,
    x: SpikeMatrix,
    w: Array,
    alpha: float,
    prev: ActiveSet | None,
    shape: tuple[int, int, int],
) -> tuple[Array, Array | None]:
    """See :func:`spikegrad.ops.lif.lif_backward_sparse` (lif_backward.cu, spmm.cu)."""
    return host.lif_backward_sparse(LAUNCH, g, act, x, w, alpha, prev, shape)


@register("spike_matmul", "cupy")
def spike_matmul(indptr: Array, indices: Array, w: Array) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_matmul` (spmm.cu)."""
    return host.spike_matmul(LAUNCH, indptr, indices, w)


@register("spike_tmatmul", "cupy")
def spike_tmatmul(indptr: Array, indices: Array, e: Array, n_cols: int) -> Array:
    """See :func:`spikegrad.ops.spmm.spike_tmatmul` (spmm.cu)."""
    return host.spike_tmatmul(LAUNCH, indptr, indices, e, n_cols)


@register("leaky_scan", "cupy")
def leaky_scan(x: Array, alpha: float, gain: float) -> Array:
    """See :func:`spikegrad.ops.lif.leaky_scan` (readout.cu)."""
    return host.leaky_scan(LAUNCH, x, alpha, gain)


@register("leaky_scan_reverse", "cupy")
def leaky_scan_reverse(e: Array, alpha: float) -> Array:
    """See :func:`spikegrad.ops.lif.leaky_scan_reverse` (readout.cu)."""
    return host.leaky_scan_reverse(LAUNCH, e, alpha)


@register("adam_update_multi", "cupy")
def adam_update_multi(
    ps: list[Array],
    gs: list[Array],
    ms: list[Array],
    vs: list[Array],
    step: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
) -> None:
    """See :func:`spikegrad.ops.adam.adam_update_multi` (adam.cu, one launch)."""
    host.adam_update_multi(LAUNCH, ps, gs, ms, vs, step, lr, b1, b2, eps)
