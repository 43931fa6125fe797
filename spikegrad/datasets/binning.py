"""Raw spike times -> binned, de-duplicated events: the step shared by the SHD and N-MNIST readers.

A spike at time t of sample k and unit u lands in step ``round(t / dt)`` (the paper's rule,
PAPER.md §3; ties to even). Steps at or beyond T are dropped, and several spikes of one unit in
one step are one spike. The whole data set is binned at once with one sort.
"""

from __future__ import annotations

import numpy as np


def index_dtype(n: int) -> np.dtype:
    """The smallest unsigned integer dtype holding 0..n-1 (compact event storage)."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if n - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    return np.dtype(np.int64)


def bin_events(
    times: np.ndarray, units: np.ndarray, offsets: np.ndarray, dt: float, T: int, n_units: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin the spikes of n samples into steps of ``dt``; keep steps < T; one spike per bin.

    ``times`` and ``dt`` share a unit (seconds, or µs for N-MNIST). Times must be >= 0 and
    units in 0..n_units-1 (the readers check both and name the file).

    Shapes: times, units (E,); offsets (n + 1,) -> t, i (E',) compact unsigned ints sorted by
    (sample, t, i), offsets (n + 1,) int64.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n = offsets.size - 1
    sample = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    step = np.rint(np.asarray(times, dtype=np.float64) / dt)
    keep = step < T
    key = (sample[keep] * T + step[keep].astype(np.int64)) * n_units
    key += np.asarray(units)[keep].astype(np.int64)
    key.sort(kind="stable")  # timsort: fast on the nearly time-ordered keys of event files
    if key.size:
        key = key[np.concatenate(([True], key[1:] != key[:-1]))]
    i = (key % n_units).astype(index_dtype(n_units))
    key //= n_units
    t = (key % T).astype(index_dtype(T))
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(key // T, minlength=n), out=out[1:])
    return t, i, out
