"""The CPU backend's thread pool: NumPy and SciPy release the GIL in their inner loops."""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

MIN_ROWS = 256  # below this, one block: thread hand-off would cost more than it saves


@functools.cache
def pool() -> ThreadPoolExecutor:
    """One pool per process, as many workers as cores (at most 8)."""
    return ThreadPoolExecutor(max_workers=n_workers())


def n_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def row_blocks(n_rows: int) -> list[tuple[int, int]]:
    """Split range(n_rows) into one contiguous block per worker (one block when small)."""
    k = 1 if n_rows < MIN_ROWS else n_workers()
    cuts = [n_rows * q // k for q in range(k + 1)]
    return [(cuts[q], cuts[q + 1]) for q in range(k) if cuts[q + 1] > cuts[q]]
