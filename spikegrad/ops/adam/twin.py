r"""Adam with bias correction (ALGORITHM.md §6) and decoupled weight decay, NumPy twin.

m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
p *= 1 - lr wd    (AdamW; 1 - lr wd is rounded once to p's dtype, wd = 0: p unchanged)
p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import numpy as np

from ...backend import Array, register
from ...errors import ShapeError
from ..common import check_shape


def check_adam_update_multi(ps: list[Array], gs: list[Array], ms: list[Array], vs: list[Array]):
    """The checks of ``adam_update_multi`` (every backend): four equally long lists, each g, m
    and v shaped like its p."""
    if not (len(ps) == len(gs) == len(ms) == len(vs)):
        raise ShapeError("adam_update_multi: ps, gs, ms, vs must be equally long")
    for k, quad in enumerate(zip(ps, gs, ms, vs, strict=True)):
        for name, a in zip("gmv", quad[1:], strict=True):
            check_shape(f"{name}s[{k}]", a, quad[0].shape)


def adam_update(
    p: Array,
    g: Array,
    m: Array,
    v: Array,
    step: int,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    wd: float = 0.0,
) -> None:
    """**Updates p, m and v in place** for step number ``step`` (1-based); ``wd`` is the
    decoupled weight decay. Shapes: all equal."""
    t = p.dtype.type
    if wd:
        p *= t(1 - lr * wd)
    m *= t(b1)
    m += t(1 - b1) * g
    v *= t(b2)
    v += t(1 - b2) * np.square(g)
    mhat = m / t(1 - b1**step)
    vhat = v / t(1 - b2**step)
    p -= t(lr) * mhat / (np.sqrt(vhat) + t(eps))


@register("adam_update_multi", "numpy")
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
    """**Updates every p, m and v in place**: :func:`adam_update` over parallel lists.

    Shapes: four equally long lists; gs[k], ms[k], vs[k] shaped like ps[k].
    """
    check_adam_update_multi(ps, gs, ms, vs)
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        adam_update(p, g, m, v, step, lr, b1, b2, eps, wd)
