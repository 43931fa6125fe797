"""How many output neurons a work item of the fused sparse layer kernels covers (a block), so
that its columns of W (forward) or of its dW partial sum (backward), and its samples' state,
stay in the core's L2 cache: on a core whose L2 cannot hold a layer's W (F-MNIST's W1, 627 KB
in float32, on a core with 512 KiB of L2), the unblocked kernels fetch a W row from L3 per
input spike.

Off by default: on the 2-core Xeon VM of docs/benchmarks.md (2 MiB of L2 per core) blocking
never paid, not even where W exceeds L2 (docs/cpu-kernels.md). The cache budget of a work
item in KiB (0: never block), in order of precedence: :func:`spikegrad.native.set_block`
(``kib``), ``SPIKEGRAD_BLOCK_KIB``; ``set_block(width=...)`` fixes the width instead (tests,
measurements). The kernels' results do not depend on the blocks, bit for bit.
"""

from __future__ import annotations

import functools
import os

from ..errors import ConfigError

ENV = "SPIKEGRAD_BLOCK_KIB"

_kib: int | None = None
_width: int | None = None


def _count(name: str, value: object) -> int:
    """A non-negative integer from ``value`` (a setting called ``name``); ConfigError."""
    try:
        n = int(str(value).strip())
    except ValueError:
        n = -1
    if n < 0 or isinstance(value, bool):
        raise ConfigError(f"{name} must be a non-negative integer; got {value!r}")
    return n


@functools.cache
def _default_kib() -> int:
    value = os.environ.get(ENV, "").strip()
    return _count(f"{ENV} (KiB)", value) if value else 0


def set_block(kib: int | None = None, width: int | None = None) -> None:
    """Cache budget of a work item in KiB (0: never block), or a fixed block ``width`` in
    neurons; both None: back to ``SPIKEGRAD_BLOCK_KIB`` (unset: never block)."""
    global _kib, _width
    if kib is not None and width is not None:
        raise ConfigError("set_block takes kib or width, not both")
    _kib = None if kib is None else _count("set_block kib", kib)
    _width = None if width is None else _count("set_block width", width)
    if _width == 0:
        raise ConfigError("set_block width must be a positive integer; got 0")


def width(n: int, col_bytes: int, lanes: int) -> int:
    """The block width for a row of ``n`` neurons whose columns take ``col_bytes`` each in a
    work item: the budget's columns, a multiple of ``lanes`` (one SIMD vector), the blocks
    evened out; n when they all fit."""
    if _width is not None:
        return min(_width, n)
    kib = _default_kib() if _kib is None else _kib
    cols = kib * 1024 // max(col_bytes, 1) // lanes * lanes
    if kib == 0 or cols >= n:
        return n
    k = -(-n // max(cols, lanes))  # blocks
    per = -(-n // k)  # neurons per block, then up to whole vectors
    return min(n, -(-per // lanes) * lanes)
