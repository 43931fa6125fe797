"""NumPy twins of every engine op (ALGORITHM.md), registered for the "numpy" backend, and
the native C kernels of the hottest ones (:mod:`.native`, preferred while they are enabled).

Dimension legend: B batch, T time steps, N_in inputs of a layer, N neurons of a layer,
K classes, A active entries. The engine works time-major: (T, B, N) arrays, flat index
``(t * B + b) * N + j`` for an entry (b, t, j). Backward ops return fresh gradients.
"""

from . import adam, dense_input, events_input, lif, native, readout, rlif, spmm, surrogate

__all__ = [
    "adam",
    "dense_input",
    "events_input",
    "lif",
    "native",
    "readout",
    "rlif",
    "spmm",
    "surrogate",
]
