"""Adam's kernels behind the twin's signature: the native C wrapper (``cpu.h``) and the CUDA
host code (``adam.cu``). Each runs the twin's check first; the native one hands a parameter of
another dtype or layout to the twin.
"""

from __future__ import annotations

import numpy as np

from ... import kernels, native
from ...backend import Array, get_xp, register
from ...kernels.host import Launcher, cuda_op, in_array, out_array, run
from ..common import in_place, ptr
from . import twin
from .twin import check_adam_update_multi

native.c_family(
    __file__,
    typed=("cpu.h",),
    typed_functions={"adam_update": ("void", "p p p p i64 F F F F F F F F F")},
)
kernels.add_module("adam", __file__, {"adam_update_multi_kernel": ("T",)})


# ---------------------------------------------------------------------------- native C
@register("adam_update_multi", "native")  # the twin per parameter, not per call
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
    wd: float = 0.0,
) -> None:
    """See :func:`spikegrad.ops.adam.adam_update_multi` (one fused pass per parameter; the same
    bits; a parameter of another dtype or layout goes to the twin)."""
    check_adam_update_multi(ps, gs, ms, vs)
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        arrays = (p, g, m, v)
        if not all(in_place(a) and a.dtype == p.dtype for a in arrays):
            twin.adam_update(p, g, m, v, step, lr, b1, b2, eps, wd)
            continue
        t = p.dtype.type
        consts = (b1, 1 - b1, b2, 1 - b2, 1 - b1**step, 1 - b2**step, lr, eps, 1 - lr * wd)
        native.function("adam_update", p.dtype)(*(ptr(a) for a in arrays), p.size, *map(t, consts))


# ------------------------------------------------------------------------- CUDA host
def _adam_scalars(
    dt: np.dtype, step: int, lr: float, b1: float, b2: float, eps: float, wd: float
) -> tuple:
    f = dt.type
    bc1, bc2 = 1 - b1**step, 1 - b2**step
    return f(lr), f(b1), f(1 - b1), f(b2), f(1 - b2), f(bc1), f(bc2), f(eps), f(1 - lr * wd)


@cuda_op("adam_update_multi")
def cuda_adam_update_multi(
    launch: Launcher,
    ps: list[Array],
    gs: list[Array],
    ms: list[Array],
    vs: list[Array],
    step: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    wd: float = 0.0,
) -> None:
    """**Updates every p, m, v in place**, all tensors in one launch (one dtype); ``wd`` is the
    decoupled weight decay.

    Shapes: four equal-length lists; gs[k], ms[k], vs[k] shaped like ps[k].
    """
    check_adam_update_multi(ps, gs, ms, vs)
    if not ps:
        return
    dt = out_array("ps[0]", ps[0])
    gs = [in_array(f"gs[{k}]", g, dt) for k, g in enumerate(gs)]  # kept alive until the launch
    table = []
    for k, quad in enumerate(zip(ps, gs, ms, vs, strict=True)):
        for name, a in zip("pgmv", quad, strict=True):
            out_array(f"{name}s[{k}]", a, dt)
            table.append(launch.ptr(a))
    xp = get_xp(*ps)
    offs = np.concatenate([[0], np.cumsum([p.size for p in ps])]).astype(np.int64)
    ptrs = xp.asarray(np.array(table, dtype=np.uint64))
    run(
        launch,
        "adam",
        "adam_update_multi_kernel",
        kernels.template_args(dt),
        int(offs[-1]),
        (ptrs, xp.asarray(offs), np.int64(len(ps)), *_adam_scalars(dt, step, lr, b1, b2, eps, wd)),
    )
