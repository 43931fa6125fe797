"""Layer kinds: one module each, holding a parameter record and its per-mode forward and
backward functions (see :mod:`spikegrad.layers.base` for the protocol)."""

from __future__ import annotations

from .base import INITS, DenseTape, HiddenLayer, Signal, SparseTape, Tape
from .lif import LIF
from .readout import Readout
from .rlif import RLIF

__all__ = [
    "INITS",
    "LIF",
    "RLIF",
    "DenseTape",
    "HiddenLayer",
    "Readout",
    "Signal",
    "SparseTape",
    "Tape",
]
