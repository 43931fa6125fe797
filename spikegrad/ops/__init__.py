"""The engine's ops (ALGORITHM.md), one folder per op family: ``<family>/twin.py`` the NumPy
twins (registered for the "numpy" backend, the reference), ``cpu.h`` the native C kernels,
``*.cu`` the CUDA kernels and ``glue.py`` the ctypes wrappers and CUDA host code that register
them for "native" and "cupy". Each op's ``check_*`` function (in its twin module) is run by
every backend before it launches anything; :mod:`.common` holds the shared checks and the
native fallback decorator. docs/adding-an-op.md walks through adding one.

Dimension legend: B batch, T time steps, N_in inputs of a layer, N neurons of a layer,
K classes, A active entries. The engine works time-major: (T, B, N) arrays, flat index
``(t * B + b) * N + j`` for an entry (b, t, j). Backward ops return fresh gradients.
"""

from .. import kernels, native, neurons
from . import (
    adam,
    cochlea,
    dense_input,
    events_input,
    half,
    kind_twin,
    lif,
    readout,
    rlif,
    spmm,
    surrogate,
)

for _kind in neurons.KINDS.values():
    if _kind.NAME in kernels.KIND_TYPES:  # kinds with CUDA pieces (kernels/kinds.cuh)
        lif.glue.register_cuda(_kind)
        rlif.glue.register_cuda(_kind)
    kind_twin.register_missing_ops(_kind)  # kinds without twins of their own get the drivers
    if _kind.NAME in native.build.KINDS:  # kinds with C pieces (spikegrad/neurons/<kind>.h)
        lif.glue.register_native(_kind)  # falls back to the op's registered twin

__all__ = [
    "adam",
    "cochlea",
    "dense_input",
    "events_input",
    "half",
    "kind_twin",
    "lif",
    "readout",
    "rlif",
    "spmm",
    "surrogate",
]
