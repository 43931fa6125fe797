"""The only place the benchmark reaches into :class:`~spikegrad.network.Network` internals.

* :func:`backward_marks`: clock marks around ``Network._backward`` inside ``loss_and_grad``,
  so forward and backward are split by the same clock that times the whole step (CUDA events
  on the GPU, ``perf_counter`` on the CPU). ``loss_and_grad``'s own ``forward_s`` /
  ``backward_s`` would do on the CPU, but on the GPU they are host wall-clock times around
  synchronisations.
* :func:`sparse_tape`: the sparse forward's tape (active sets, layer inputs), to time each
  layer's sparse backward op alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..network import Network


@contextmanager
def backward_marks(net: Network, clock: Any) -> Iterator[list[tuple[Any, Any]]]:
    """While active, every backward of ``net`` appends ``(clock.mark(), clock.mark())`` taken
    just before and just after it to the yielded list."""
    marks: list[tuple[Any, Any]] = []
    orig = net._backward

    def marked(*a: Any, **k: Any) -> Any:
        start = clock.mark()
        out = orig(*a, **k)
        marks.append((start, clock.mark()))
        return out

    net._backward = marked  # instance attribute: shadows the method while active
    try:
        yield marks
    finally:
        del net._backward


def sparse_tape(net: Network, x: Any) -> tuple[Any, int, int]:
    """The sparse forward's tape of ``x`` (``tape.layers[l].act``: ActiveSet, ``.x``: the
    layer's input SpikeMatrix) and (T, B)."""
    _, tape, (T, B) = net._run(x, "sparse")
    return tape, T, B
