"""The only place the benchmark reaches into :class:`~spikegrad.network.Network` internals:
:func:`sparse_tape`, the sparse forward's tape (active sets, layer inputs), to time each
layer's sparse backward op alone (:mod:`.gpu`). Forward and backward times come from
``loss_and_grad(..., timing=True)`` (:func:`.timing.time_mode`), not from here.
"""

from __future__ import annotations

from typing import Any

from ..network import Network


def sparse_tape(net: Network, x: Any) -> tuple[Any, int, int]:
    """The sparse forward's tape of ``x`` (``tape.layers[l].act``: ActiveSet, ``.x``: the
    layer's input SpikeMatrix) and (T, B)."""
    _, tape, (T, B) = net._run(x, "sparse")
    return tape, T, B
