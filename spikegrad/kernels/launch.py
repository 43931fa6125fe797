"""The CuPy launcher of the kernel ops: :func:`spikegrad.kernels.host.cuda_op` binds each op's host
function to :data:`LAUNCH` and registers it for "cupy" (the backend seam never imports this
module). CuPy itself is imported on the first launch only, so loading this module costs
nothing on a machine without CuPy.

Modules are built from the ``.cu`` files (local headers inlined) with ``cupy.RawModule(code=...,
options=..., name_expressions=[...])`` and cached per (stem, options); CuPy compiles on first
use, once per device, with its own disk cache. Each launch site's kernel function is cached per
(stem, kernel, template arguments). NVRTC compile errors and launch errors are re-raised as
:class:`~spikegrad.errors.KernelError` naming the kernel and the file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..backend import Array
from ..errors import KernelError
from . import BLOCK, module_source, name_expression, name_expressions, options


@functools.cache
def load_module(stem: str, opts: tuple[str, ...]) -> Any:
    """The ``cupy.RawModule`` of ``<stem>.cu`` with every template instance of the table."""
    import cupy

    return cupy.RawModule(
        code=module_source(stem), options=opts, name_expressions=name_expressions(stem)
    )


class _CupyLauncher:
    """The launcher protocol of :mod:`spikegrad.kernels.host` on CuPy RawModules."""

    def __init__(self) -> None:
        self._fns: dict[tuple[str, str, tuple[str, ...], int], Any] = {}

    def function(self, stem: str, kernel: str, targs: tuple[str, ...]) -> Any:
        """The compiled kernel instance, looked up once per launch site, dtype and device (a
        fetched function belongs to one device)."""
        import cupy

        key = (stem, kernel, targs, cupy.cuda.runtime.getDevice())
        fn = self._fns.get(key)
        if fn is not None:
            return fn

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
        self._fns[key] = fn
        return fn

    def clear(self) -> None:
        """Forget the cached functions (and modules), e.g. after the sources changed."""
        self._fns.clear()
        load_module.cache_clear()

    def __call__(
        self, stem: str, kernel: str, targs: tuple[str, ...], grid: int, args: tuple
    ) -> None:
        fn = self.function(stem, kernel, targs)
        import cupy

        try:
            fn((grid,), (BLOCK,), args)
        except (cupy.cuda.driver.CUDADriverError, cupy.cuda.runtime.CUDARuntimeError) as exc:
            expr = name_expression(kernel, targs)
            raise KernelError(
                f"launch of {expr} ({stem}.cu, grid {grid} x {BLOCK}) failed: {exc}"
            ) from exc

    def ptr(self, a: Array) -> int:
        return int(a.data.ptr)


LAUNCH = _CupyLauncher()


def bind(fn: Callable[..., Any], launcher: Any) -> Callable[..., Any]:
    """``fn`` with its launcher argument fixed: the op with its twin's signature."""
    op = functools.partial(fn, launcher)
    functools.update_wrapper(op, fn)
    return op
