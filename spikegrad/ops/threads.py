"""The CPU backend's thread pool: NumPy and SciPy release the GIL in their inner loops.

Its size follows the native kernels' thread setting (``SPIKEGRAD_THREADS``,
:func:`spikegrad.native.set_threads`, ``OMP_NUM_THREADS``, else the cores this process may
use; see :mod:`spikegrad.native.threads`), at most :data:`MAX_WORKERS`.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ..native import threads

MIN_ROWS = 256  # below this, one block: thread hand-off would cost more than it saves
MAX_WORKERS = 8

_pools: dict[int, ThreadPoolExecutor] = {}  # one per size asked for (idle workers block)
_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's pool with :func:`n_workers` workers (made on first use of that size)."""
    n = n_workers()
    with _lock:
        if n not in _pools:
            _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="spikegrad")
        return _pools[n]


def n_workers() -> int:
    """Workers of the pool: the thread setting in effect, at most :data:`MAX_WORKERS`."""
    return max(1, min(MAX_WORKERS, threads.current().n))


def row_blocks(n_rows: int) -> list[tuple[int, int]]:
    """Split range(n_rows) into one contiguous block per worker (one block when small)."""
    k = 1 if n_rows < MIN_ROWS else n_workers()
    cuts = [n_rows * q // k for q in range(k + 1)]
    return [(cuts[q], cuts[q + 1]) for q in range(k) if cuts[q + 1] > cuts[q]]
