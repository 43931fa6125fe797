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
    times: np.ndarray,
    units: np.ndarray,
    offsets: np.ndarray,
    dt: float,
    T: int,
    n_units: int,
    chunk: int = 1 << 22,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin the spikes of n samples into steps of ``dt``; keep steps < T; one spike per bin.

    ``times`` and ``dt`` share a unit (seconds, or µs for N-MNIST). Times must be >= 0 and
    units in 0..n_units-1 (the readers check both and name the file). Whole samples are
    binned in groups of about ``chunk`` spikes, which bounds the temporary memory.

    Shapes: times, units (E,); offsets (n + 1,) -> t, i (E',) compact unsigned ints sorted by
    (sample, t, i), offsets (n + 1,) int64.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    n = offsets.size - 1
    ts, us, counts = [np.zeros(0, index_dtype(T))], [np.zeros(0, index_dtype(n_units))], []
    lo = 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + chunk, "right")) - 1
        hi = min(max(hi, lo + 1), n)
        a, b = offsets[lo], offsets[hi]
        t, i, c = _bin(times[a:b], units[a:b], offsets[lo : hi + 1] - a, dt, T, n_units)
        ts.append(t)
        us.append(i)
        counts.append(c)
        lo = hi
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.concatenate([*counts, np.zeros(0, np.int64)]), out=out[1:])
    return np.concatenate(ts), np.concatenate(us), out


def _bin(
    times: np.ndarray, units: np.ndarray, offsets: np.ndarray, dt: float, T: int, n_units: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bin_events`` for one group of samples; returns t, i and the spike count per sample."""
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
    return t, i, np.bincount(key // T, minlength=n)
