r"""Adam with bias correction (ALGORITHM.md §6), NumPy twin.

m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
"""

from __future__ import annotations

import numpy as np

from ..backend import Array, register


def adam_update(
    p: Array, g: Array, m: Array, v: Array, step: int, lr: float, b1: float, b2: float, eps: float
) -> None:
    """**Updates p, m and v in place** for step number ``step`` (1-based). Shapes: all equal."""
    t = p.dtype.type
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
) -> None:
    """**Updates every p, m and v in place**: :func:`adam_update` over parallel lists.

    Shapes: four equally long lists; gs[k], ms[k], vs[k] shaped like ps[k].
    """
    for p, g, m, v in zip(ps, gs, ms, vs, strict=True):
        adam_update(p, g, m, v, step, lr, b1, b2, eps)
