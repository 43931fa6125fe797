"""Dense 0/1 engine input to the engine's time-major CSR spike pattern (op ``dense_to_csr``).

The twin (NumPy, xp-generic: on CuPy arrays it runs there) checks the values, then takes the
flat non-zero positions of the time-major view. The native kernels (``cpu.h`` beside this file,
wrapped in ``glue.py``; preferred while :func:`spikegrad.native.enabled`) read the input where
it lies, in two parallel passes: check and count per row, then fill.
"""

from __future__ import annotations

from ...backend import Array, get_xp, register
from ...errors import InputError, ShapeError
from ...spikes import check_dense, spike_matrix_from_keys

INDEX_MAX = 2**31 - 1  # the largest nnz (and N) an int32 CSR holds


def check_n(N: int) -> None:
    if N > INDEX_MAX:
        raise ShapeError(f"x has N = {N} units; int32 unit indices need N <= 2**31 - 1")


def check_nnz(nnz: int) -> None:
    if nnz > INDEX_MAX:
        raise InputError(
            f"x holds {nnz} spikes; a SpikeMatrix (int32 indptr) holds at most 2**31 - 1: "
            "pass fewer samples per batch"
        )


@register("dense_to_csr", "numpy", xp_generic=True)
def dense_to_csr(x: Array) -> tuple[Array, Array]:
    """The time-major CSR pattern of a dense 0/1 input, after checking its values.

    Row ``t * B + b`` holds the units j with ``x[b, t, j] == 1``, ascending. Raises InputError
    naming the first value (C order) other than 0 and 1 (NaN included; -0.0 is 0).

    Shapes: x (B, T, N) bool or numeric, any layout -> indptr (T * B + 1,) int32,
    indices (nnz,) int32.
    """
    x = check_dense(x)
    B, T, N = x.shape
    check_n(N)
    xp = get_xp(x)
    keys = xp.flatnonzero(xp.moveaxis(x, 0, 1))
    check_nnz(int(keys.size))
    if N == 0:
        return xp.zeros(T * B + 1, dtype=xp.int32), xp.zeros(0, dtype=xp.int32)
    m = spike_matrix_from_keys(xp, keys, T, B, N)
    return m.indptr, m.indices
